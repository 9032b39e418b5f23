<?php
/* Stand-in for PEAR's PEAR.php (a PHP library pfSense installs; captiveportal.inc loads it at
 * include time): only what loading needs. Not pfSense code. */
if (!class_exists('PEAR')) {
	class PEAR {
		public static function loadExtension($ext) { return extension_loaded($ext); }
		public static function isError($data, $code = null) { return false; }
	}
}
