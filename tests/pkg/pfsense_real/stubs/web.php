<?php
/* Harness: run a pfSense web page under php-cli as the web server would for a logged-in
 * admin. php web.php PAGE METHOD QUERY [POST_JSON_FILE]. Not pfSense code. */
list(, $page, $method, $query) = $argv;
parse_str($query, $_GET);
$_POST = array();
if ($method === 'POST') {
	$_POST = json_decode(file_get_contents($argv[4]), true);
}
$_REQUEST = array_merge($_GET, $_POST);
$_SERVER['REQUEST_METHOD'] = $method;
$_SERVER['SCRIPT_NAME'] = '/' . $page;
$_SERVER['PHP_SELF'] = '/' . $page;
$_SERVER['REQUEST_URI'] = '/' . $page . ($query !== '' ? "?{$query}" : '');
$_SERVER['HTTP_HOST'] = 'pfsense.local';
$_SERVER['REMOTE_ADDR'] = '192.168.1.100';
$_SERVER['HTTPS'] = 'on';
chdir('/usr/local/www');
register_shutdown_function(function () {
	global $input_errors;
	file_put_contents('/tmp/web-result.json', json_encode(array('input_errors' => $input_errors ?? null)));
});
unset($argv, $argc);
require('/usr/local/www/' . $page);
