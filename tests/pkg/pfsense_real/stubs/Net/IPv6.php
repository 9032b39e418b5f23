<?php /* harness stub of PEAR Net_IPv6 */
