<?php
/* Stand-in for PEAR's Auth_RADIUS (captiveportal.inc loads it at include time; unused by the
 * source resolution). Not pfSense code. */
