#!/usr/local/bin/php -f
<?php
/*
 * apply-myid.php: re-apply an IPsec phase 1 "My identifier" after a WAN address change.
 *
 * Usage: php /usr/local/libexec/s2s-agent/apply-myid.php --ikeid N --ip A.B.C.D
 *
 * Prints one JSON object on stdout:
 *   {"changed": true|false, "old": "198.51.100.7"|null, "new": "203.0.113.9",
 *    "pending_applied": true|false}
 * or, on failure, {"error": "message"}.
 * Exit status: 0 done (changed or already right) and strongSwan has loaded con<ikeid> with
 * the new local identifier; 1 could not apply (no such or a disabled phase 1, identifier
 * type is not "address", an IPv6 address for an IPv4 phase 1, strongSwan did not load the
 * new identifier within 20 s, ...), 2 usage error.
 *
 * Called by s2s-agent (as root); goes through pfSense's config API (config_set_path,
 * write_config, ipsec_configure, ipsec_reload_package_hook) so the change is in config.xml
 * and its history, then loads the connections synchronously and waits until charon has the
 * new identifier (s2s-agent-myid.inc). IPsec edits left pending under VPN > IPsec (not yet
 * applied) are applied with it, as the Apply button would; "pending_applied" says so and
 * the system log names it.
 *
 * SPDX-License-Identifier: BSD-2-Clause
 */

function s2s_agent_cli_exit($obj, $code) {
	echo json_encode($obj, JSON_UNESCAPED_SLASHES) . "\n";
	exit($code);
}

if (PHP_SAPI !== 'cli' && PHP_SAPI !== 'cgi-fcgi' && PHP_SAPI !== 'cgi') {
	exit(2);
}

$opts = getopt('', array('ikeid:', 'ip:'));
$ikeid = isset($opts['ikeid']) ? $opts['ikeid'] : '';
$ip = isset($opts['ip']) ? $opts['ip'] : '';
if (is_array($ikeid) || is_array($ip) || !preg_match('/^[0-9]+$/', $ikeid) || $ip === '') {
	s2s_agent_cli_exit(array('error' => 'usage: apply-myid.php --ikeid N --ip A.B.C.D'), 2);
}
if (filter_var($ip, FILTER_VALIDATE_IP) === false) {
	s2s_agent_cli_exit(array('error' => "--ip: '{$ip}' is not an IP address"), 2);
}

/*
 * The package's .inc of this same installation: <prefix>/libexec/s2s-agent/apply-myid.php
 * -> <prefix>/pkg/s2s-agent.inc (/usr/local/pkg on pfSense). Derived from this file's own
 * location, never from the environment, the working directory or include_path, so nobody
 * can make this root-run script load other code.
 */
require_once(dirname(__DIR__, 2) . '/pkg/s2s-agent.inc');

$result = s2s_agent_apply_myid($ikeid, $ip);
s2s_agent_cli_exit($result, isset($result['error']) ? 1 : 0);
