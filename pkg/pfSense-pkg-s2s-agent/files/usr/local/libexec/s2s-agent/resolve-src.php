#!/usr/local/bin/php -f
<?php
/*
 * resolve-src.php: which interface and address each IPsec phase 1 uses now, asked from
 * pfSense (never re-derived: the gateway-group member choice differs by release).
 *
 * Usage: php /usr/local/libexec/s2s-agent/resolve-src.php [IKEID ...]
 *        (no IKEID: every enabled phase 1)
 *
 * Prints one line on stdout:
 *   {"version": 1, "phase1": [{"ikeid": 1, "interface": "WAN_FAILOVER",
 *     "kind": "gateway_group", "group": "WAN_FAILOVER", "realif": "igb1",
 *     "address": "100.64.0.2", "gateway": "WAN2GW", "tier": 2, "vip": null, "carp": null,
 *     "error": null}, ...]}
 * kind: interface | vip | gateway_group (null for an ikeid not in config.xml);
 * group/gateway/tier: the group and its active member (null unless gateway_group);
 * vip: the phase 1's VIP or the active member's VIP; carp: MASTER | BACKUP | INIT of that
 * VIP, else null; address null with error a text when pfSense resolves none.
 * Exit status: 0 answered; 1 pfSense's configuration could not be read, or a fatal error
 * ({"error": ...}); 2 usage ({"error": ...}). Read-only (s2s-agent-src.inc).
 *
 * SPDX-License-Identifier: BSD-2-Clause
 */

$s2s_agent_src_answered = false;

function s2s_agent_src_exit($obj, $code) {
	global $s2s_agent_src_answered;
	$said = '';
	while (ob_get_level() > 0) {
		$said = ob_get_clean() . $said; /* whatever pfSense's code printed is not the answer */
	}
	if ($code === 1 && !isset($obj['phase1'])) {
		$said = trim(preg_replace('/\s+/', ' ', strip_tags($said)));
		if ($said !== '') {
			$obj['error'] .= ': ' . substr($said, 0, 300);
		}
	}
	$s2s_agent_src_answered = true;
	echo json_encode($obj, JSON_UNESCAPED_SLASHES) . "\n";
	exit($code);
}

/* pfSense's config.inc die()s on a config.xml it cannot read or restore, and a fatal error
 * ends the script: still one answer */
register_shutdown_function(function () {
	global $s2s_agent_src_answered;
	if ($s2s_agent_src_answered) {
		return;
	}
	$e = error_get_last();
	if (is_array($e) && in_array($e['type'], array(E_ERROR, E_CORE_ERROR, E_COMPILE_ERROR, E_RECOVERABLE_ERROR), true)) {
		$msg = strtok((string)$e['message'], "\n");
		s2s_agent_src_exit(array('error' => "resolve-src.php failed: {$msg}"), 1);
	}
	s2s_agent_src_exit(array('error' => "pfSense's configuration (config.xml) could not be read"), 1);
});

if (PHP_SAPI !== 'cli' && PHP_SAPI !== 'cgi-fcgi' && PHP_SAPI !== 'cgi') {
	exit(2);
}
$ikeids = array_slice($argv, 1);
foreach ($ikeids as $a) {
	if (!preg_match('/^[0-9]+$/', $a)) {
		s2s_agent_src_exit(array('error' => "usage: resolve-src.php [IKEID ...] ('{$a}' is not an ikeid)"), 2);
	}
}

ob_start();
require_once("config.inc");
require_once("util.inc");
require_once("interfaces.inc");
require_once("gwlb.inc");
require_once("ipsec.inc");
require_once("pfsense-utils.inc");
/* this installation's own .inc (<prefix>/pkg), never one found through include_path */
require_once(dirname(__DIR__, 2) . '/pkg/s2s-agent-src.inc');

global $config;
if (!is_array($config) || empty($config['version'])) {
	s2s_agent_src_exit(array('error' => "pfSense's configuration (config.xml) could not be read"), 1);
}
$out = s2s_agent_phase1_sources($ikeids);
s2s_agent_src_exit(array('version' => 1, 'phase1' => $out), 0);
