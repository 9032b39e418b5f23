<?php
/*
 * Stand-ins for the FreeBSD-only pfSense PHP extension (pfSense.so, php-pfSense-module),
 * for resolve-src.php run against pfSense's REAL interfaces.inc / gwlb.inc / ipsec.inc
 * (tests/pkg/test_resolve_src.py). Not pfSense code. The interfaces and their addresses
 * come from /var/run/harness-ifaddrs.json ({"igb0": ["198.51.100.2/24"], ...}), written by
 * the test; each function says which extension function it mirrors.
 */
$nocsrf = true;

function s2s_harness_ifaddrs() {
	$j = @file_get_contents('/var/run/harness-ifaddrs.json');
	$a = $j ? json_decode($j, true) : array();
	return is_array($a) ? $a : array();
}

function s2s_harness_v4($cidr) {
	list($ip, $bits) = explode('/', $cidr) + array(1 => '32');
	$mask = long2ip(-1 << (32 - (int)$bits));
	return array('addr' => $ip, 'subnetbits' => (int)$bits, 'subnet' => $mask);
}

/* pfSense_interface_listget(): the names of the OS interfaces */
if (!function_exists('pfSense_interface_listget')) {
	function pfSense_interface_listget($flags = 0) { return array_keys(s2s_harness_ifaddrs()); }
}
/* pfSense_get_ifaddrs($if): array('addrs' => [{addr, subnetbits, subnet}...], 'addrs6' => [...]) */
if (!function_exists('pfSense_get_ifaddrs')) {
	function pfSense_get_ifaddrs($if) {
		$all = s2s_harness_ifaddrs();
		if (!isset($all[$if])) {
			return array();
		}
		$v4 = array();
		foreach ($all[$if] as $cidr) {
			if (strpos($cidr, ':') === false) {
				$v4[] = s2s_harness_v4($cidr);
			}
		}
		return array('addrs' => $v4, 'addrs6' => array());
	}
}
/* pfSense_getall_interface_addresses($if): ["A.B.C.D/NN", ...] */
if (!function_exists('pfSense_getall_interface_addresses')) {
	function pfSense_getall_interface_addresses($if) {
		$all = s2s_harness_ifaddrs();
		return isset($all[$if]) ? $all[$if] : array();
	}
}
/* pfSense_get_interface_addresses($if): the first IPv4 as {ipaddr, subnetbits, subnet} */
if (!function_exists('pfSense_get_interface_addresses')) {
	function pfSense_get_interface_addresses($if) {
		$all = s2s_harness_ifaddrs();
		foreach (isset($all[$if]) ? $all[$if] : array() as $cidr) {
			if (strpos($cidr, ':') === false) {
				$a = s2s_harness_v4($cidr);
				return array('ipaddr' => $a['addr'], 'subnetbits' => $a['subnetbits'], 'subnet' => $a['subnet']);
			}
		}
		return array();
	}
}
/* pfSense_fsync($file): fsync(2) */
if (!function_exists('pfSense_fsync')) {
	function pfSense_fsync($f) { return true; }
}
/* pfSense_get_os_hw_data(): hw.* sysctls */
if (!function_exists('pfSense_get_os_hw_data')) {
	function pfSense_get_os_hw_data() { return array(); }
}
/* pfSense_sysctl($names): sysctl(3) reads */
if (!function_exists('pfSense_sysctl')) {
	function pfSense_sysctl($names) { return array(); }
}
