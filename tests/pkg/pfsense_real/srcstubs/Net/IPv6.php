<?php
/* Stand-in for PEAR's Net_IPv6 (a PHP library pfSense installs), with PHP's own inet_pton /
 * inet_ntop, for the methods pfSense's util.inc / interfaces.inc call. Not pfSense code. */
if (!class_exists('Net_IPv6')) {
	class Net_IPv6 {
		public static function removeNetmaskSpec($ip) {
			return explode('/', (string)$ip)[0];
		}
		public static function checkIPv6($ip) {
			return filter_var(self::removeNetmaskSpec($ip), FILTER_VALIDATE_IP, FILTER_FLAG_IPV6) !== false;
		}
		public static function compress($ip, $force = false) {
			$p = @inet_pton(self::removeNetmaskSpec($ip));
			return $p === false ? $ip : inet_ntop($p);
		}
		public static function uncompress($ip, $leadingZeros = false) {
			$p = @inet_pton(self::removeNetmaskSpec($ip));
			if ($p === false || strlen($p) != 16) {
				return $ip;
			}
			$h = str_split(bin2hex($p), 4);
			return implode(':', $leadingZeros ? $h : array_map(function ($x) { return ltrim($x, '0') ?: '0'; }, $h));
		}
		/* (PHP method names are case-insensitive: this is also Net_IPv6::Uncompress) */
		public static function getNetmask($ip, $bits = null) {
			$p = @inet_pton(self::removeNetmaskSpec($ip));
			if ($p === false || $bits === null) {
				return $ip;
			}
			$m = str_repeat("\xff", intdiv($bits, 8)) . ($bits % 8 ? chr((0xff << (8 - $bits % 8)) & 0xff) : '');
			$m = str_pad($m, 16, "\0");
			return inet_ntop($p & $m);
		}
		public static function isInNetmask($ip, $netmask, $bits = null) {
			if ($bits === null && strpos($netmask, '/') !== false) {
				list($netmask, $bits) = explode('/', $netmask);
			}
			return self::getNetmask($ip, (int)$bits) === self::getNetmask($netmask, (int)$bits);
		}
		public static function getAddressType($ip) {
			return 0;
		}
	}
}
