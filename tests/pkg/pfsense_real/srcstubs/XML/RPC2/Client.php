<?php
/* Stand-in for PEAR's XML_RPC2 client (xmlrpc_client.inc loads it at include time; unused by
 * the source resolution). Not pfSense code. */
