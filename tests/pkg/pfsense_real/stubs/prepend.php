<?php
/* Harness prepend: stand-ins for the FreeBSD-only pfSense PHP extension (pfSense.so) and
 * a logged-in admin. Not pfSense code. */
$nocsrf = true;
if (!function_exists('pfSense_fsync')) { function pfSense_fsync($f) { return true; } }
if (!function_exists('pfSense_get_interface_addresses')) { function pfSense_get_interface_addresses($i) { return array(); } }
if (!function_exists('pfSense_getall_interface_addresses')) { function pfSense_getall_interface_addresses($i) { return array(); } }
if (!function_exists('pfSense_interface_listget')) { function pfSense_interface_listget($f = 0) { return array(); } }
if (!function_exists('pfSense_get_os_hw_data')) { function pfSense_get_os_hw_data() { return array(); } }
if (!function_exists('get_single_sysctl')) { /* util.inc defines it via pfSense ext */ }
