#!/usr/local/bin/php -f
<?php
/*
 * apply-myid.php: re-apply IPsec phase 1 "My identifier"s after a WAN address change.
 *
 * Usage: php /usr/local/libexec/s2s-agent/apply-myid.php [--set IKEID=IP ...] [--refresh IKEID ...]
 *        php /usr/local/libexec/s2s-agent/apply-myid.php --ikeid N --ip A.B.C.D
 *
 * --set (any number, each ikeid once): every phase 1 that can take its address is changed in
 * ONE write_config (one Config History entry naming them all), ONE ipsec_configure() and ONE
 * ipsec_reload_package_hook(); then it waits until charon has loaded each new local id.
 * Prints one JSON object on stdout:
 *   {"results": [{"ikeid": 1, "changed": true, "old": "198.51.100.7", "new": "203.0.113.9",
 *                 "error": null}, ...], "pending_applied": true|false}
 * A missing or disabled phase 1, one whose identifier type is not "address", an address of
 * the other family, or one charon did not load within 20 s fails alone ("error" says why);
 * the others still apply. Exit status: 0 every one applied, 1 some failed (the results say
 * which), 2 usage error ({"error": "message"}).
 *
 * --refresh IKEID (any number, combinable with --set; each ikeid once in both): a phase 1
 * whose config needs no change (e.g. "My IP address") but whose source may have moved (a
 * gateway-group failover: pfSense's rc.ipsec regenerates IPsec only 12 + 3 s later). When
 * charon's loaded local address (local_addrs), or for "My IP address" its local id, is not
 * what pfSense resolves now (ipsec_get_phase1_src), IPsec is regenerated at once: no
 * write_config, the same ONE ipsec_configure() as --set (one for both), then the same wait
 * until charon has it. Its result row: "old" charon's local address before, "new"
 * pfSense's, "changed" false when charon already had it (then nothing is reloaded).
 *
 * --ikeid/--ip (one phase 1, the older form): {"changed": true|false, "old": ..., "new": ...,
 * "pending_applied": ...} or {"error": "message"}; exit 0 done, 1 could not apply, 2 usage.
 *
 * Called by s2s-agent (as root); goes through pfSense's config API (config_set_path,
 * write_config, ipsec_configure, ipsec_reload_package_hook) so the change is in config.xml
 * and its history, then loads the connections synchronously and waits until charon has the
 * new identifiers (s2s-agent-myid.inc). IPsec edits left pending under VPN > IPsec (not yet
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

$usage = 'usage: apply-myid.php [--set IKEID=IP ...] [--refresh IKEID ...] | --ikeid N --ip A.B.C.D';
$opts = getopt('', array('ikeid:', 'ip:', 'set:', 'refresh:'), $rest);
if ($rest < count($argv)) {
	s2s_agent_cli_exit(array('error' => "{$usage} (unexpected '{$argv[$rest]}')"), 2);
}
$items = null;
$refresh = array();
if (isset($opts['set']) || isset($opts['refresh'])) {
	if (isset($opts['ikeid']) || isset($opts['ip'])) {
		s2s_agent_cli_exit(array('error' => "{$usage} (--set/--refresh or --ikeid/--ip, not both)"), 2);
	}
	$items = array();
	foreach (isset($opts['set']) ? (array)$opts['set'] : array() as $set) {
		if (!preg_match('/^([0-9]+)=(.+)$/', $set, $m)) {
			s2s_agent_cli_exit(array('error' => "--set '{$set}': expected IKEID=IP"), 2);
		}
		if (filter_var($m[2], FILTER_VALIDATE_IP) === false) {
			s2s_agent_cli_exit(array('error' => "--set '{$set}': '{$m[2]}' is not an IP address"), 2);
		}
		if (isset($items[$m[1]])) {
			s2s_agent_cli_exit(array('error' => "--set: ikeid {$m[1]} given twice"), 2);
		}
		$items[$m[1]] = array($m[1], $m[2]);
	}
	foreach (isset($opts['refresh']) ? (array)$opts['refresh'] : array() as $id) {
		if (!preg_match('/^[0-9]+$/', $id)) {
			s2s_agent_cli_exit(array('error' => "--refresh '{$id}': expected an IKEID"), 2);
		}
		if (isset($items[$id]) || isset($refresh[$id])) {
			s2s_agent_cli_exit(array('error' => "--refresh: ikeid {$id} given twice"), 2);
		}
		$refresh[$id] = $id;
	}
} else {
	$ikeid = isset($opts['ikeid']) ? $opts['ikeid'] : '';
	$ip = isset($opts['ip']) ? $opts['ip'] : '';
	if (is_array($ikeid) || is_array($ip) || !preg_match('/^[0-9]+$/', $ikeid) || $ip === '') {
		s2s_agent_cli_exit(array('error' => $usage), 2);
	}
	if (filter_var($ip, FILTER_VALIDATE_IP) === false) {
		s2s_agent_cli_exit(array('error' => "--ip: '{$ip}' is not an IP address"), 2);
	}
}

/*
 * The package's .inc of this same installation: <prefix>/libexec/s2s-agent/apply-myid.php
 * -> <prefix>/pkg/s2s-agent.inc (/usr/local/pkg on pfSense). Derived from this file's own
 * location, never from the environment, the working directory or include_path, so nobody
 * can make this root-run script load other code.
 */
require_once(dirname(__DIR__, 2) . '/pkg/s2s-agent.inc');

if ($items !== null) {
	$result = s2s_agent_apply_myids(array_values($items), array_values($refresh));
	$failed = 0;
	foreach ($result['results'] as $r) {
		$failed += $r['error'] !== null ? 1 : 0;
	}
	s2s_agent_cli_exit($result, $failed ? 1 : 0);
}
$result = s2s_agent_apply_myid($ikeid, $ip);
s2s_agent_cli_exit($result, isset($result['error']) ? 1 : 0);
