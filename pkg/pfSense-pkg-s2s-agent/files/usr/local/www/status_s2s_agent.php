<?php
/*
 * status_s2s_agent.php: Status > s2s-agent.
 *
 * Renders "s2s-agent status --json": per tunnel health with reasons, IKE/CHILD state,
 * traffic, the in-tunnel probe, recent charon events, its Azure LNG and Azure's view of its
 * connection and LNG, the last remediations; then one row per Azure LNG (addresses, write
 * budget, backoff, last remediation). Every value from the agent is escaped with
 * htmlspecialchars.
 *
 * SPDX-License-Identifier: BSD-2-Clause
 */

##|+PRIV
##|*IDENT=page-status-s2s-agent
##|*NAME=Status: s2s-agent
##|*DESCR=Allow access to the 's2s-agent' status page.
##|*MATCH=status_s2s_agent.php*
##|-PRIV

require_once("guiconfig.inc");
require_once("/usr/local/www/widgets/include/s2s_agent.inc");

$pgtitle = array(gettext("Status"), gettext("s2s-agent"));
$pglinks = array("", "@self");
include("head.inc");

$tab_array = array();
$tab_array[] = array(gettext("Settings"), false, "/pkg_edit.php?xml=s2s_agent.xml&id=0");
$tab_array[] = array(gettext("Status"), true, "/status_s2s_agent.php");
$tab_array[] = array(gettext("Logs"), false, "/status_logs_packages.php?pkg=s2s-agent");
display_top_tabs($tab_array);

list($status, $error) = s2s_agent_status();

function s2s_agent_row($label, $value) {
	echo '<tr><th>' . s2s_agent_h($label) . '</th><td>' . $value . "</td></tr>\n";
}

if ($error !== null) {
	print_info_box(s2s_agent_h($error) . '<br/>' .
	    gettext('Check that the service runs (Status > Services) and see the Logs tab.'), 'danger', false);
	include("foot.inc");
	exit;
}

$agent = is_array($status['agent'] ?? null) ? $status['agent'] : array();
?>
<div class="panel panel-default">
	<div class="panel-heading"><h2 class="panel-title"><?=gettext("Agent")?></h2></div>
	<div class="panel-body">
		<table class="table table-condensed"><tbody>
<?php
s2s_agent_row(gettext('Version'), s2s_agent_h($agent['version'] ?? ''));
s2s_agent_row(gettext('PID'), s2s_agent_h($agent['pid'] ?? ''));
s2s_agent_row(gettext('Started'), s2s_agent_h($agent['started'] ?? ''));
s2s_agent_row(gettext('Configuration'), s2s_agent_h($agent['config'] ?? ''));
s2s_agent_row(gettext('SA source'), s2s_agent_h($agent['sa_source'] ?? ''));
s2s_agent_row(gettext('Data from'), s2s_agent_h($status['source'] ?? '') . ' (' .
    s2s_agent_h($status['age_seconds'] ?? '?') . ' s old)');
if (($status['source'] ?? '') === 'state_file') {
	s2s_agent_row(gettext('Note'), '<span class="text-warning">' . gettext('The agent did not answer; this is its last saved state.') .
	    ' ' . s2s_agent_h($status['note'] ?? '') . '</span>');
}
if (!empty($agent['error'])) {
	s2s_agent_row(gettext('Error'), '<span class="text-danger">' . s2s_agent_h($agent['error']) . '</span>');
}
?>
		</tbody></table>
	</div>
</div>
<?php
foreach ($status['tunnels'] as $t) {
	if (!is_array($t)) {
		continue;
	}
	$health = (string)($t['health'] ?? 'UNKNOWN');
	$class = s2s_agent_health_class($health);
	$reasons = is_array($t['reasons'] ?? null) ? $t['reasons'] : array();
?>
<div class="panel panel-default">
	<div class="panel-heading">
		<h2 class="panel-title">
			<?=s2s_agent_h($t['name'] ?? '')?> (<?=s2s_agent_h($t['ike'] ?? '')?>)
			<span class="label label-<?=$class?>"><?=s2s_agent_h($health)?></span>
		</h2>
	</div>
	<div class="panel-body">
		<table class="table table-condensed"><tbody>
<?php
	s2s_agent_row(gettext('Reasons'), $reasons ? s2s_agent_reasons_html($reasons, true) : '-');
	if (!empty($t['error'])) {
		s2s_agent_row(gettext('Error'), '<span class="text-danger">' . s2s_agent_h($t['error']) . '</span>');
	}
	s2s_agent_row(gettext('Since'), s2s_agent_h($t['since'] ?? ''));
	s2s_agent_row(gettext('IKE SA'), s2s_agent_h($t['ike_state'] ?? 'none') .
	    ' ' . gettext('established for') . ' ' . s2s_agent_h(s2s_agent_fmt_duration($t['established_seconds'] ?? null)));
	$children = array();
	foreach ((is_array($t['child_states'] ?? null) ? $t['child_states'] : array()) as $c => $st) {
		$children[] = s2s_agent_h($c) . ': ' . s2s_agent_h($st ?? 'none');
	}
	s2s_agent_row(gettext('CHILD SAs'), $children ? implode('<br/>', $children) : '-');
	s2s_agent_row(gettext('Local'), s2s_agent_h($t['local_host'] ?? '') . ' [' . s2s_agent_h($t['local_id'] ?? '') . ']');
	s2s_agent_row(gettext('Remote'), s2s_agent_h($t['remote_host'] ?? '') . ' [' . s2s_agent_h($t['remote_id'] ?? '') . ']');
	s2s_agent_row(gettext('Traffic in / out'),
	    s2s_agent_h(s2s_agent_fmt_bytes($t['bytes_in'] ?? null)) . ' (' . s2s_agent_h($t['packets_in'] ?? '-') . ' pkts) / ' .
	    s2s_agent_h(s2s_agent_fmt_bytes($t['bytes_out'] ?? null)) . ' (' . s2s_agent_h($t['packets_out'] ?? '-') . ' pkts)');
	$p = $t['probe'] ?? null;
	if (is_array($p)) {
		$txt = sprintf('%s &rarr; %s: %s/%s %s, %s%% %s, %s ms',
		    s2s_agent_h($p['source'] ?? ''), s2s_agent_h($p['target'] ?? ''),
		    s2s_agent_h($p['received'] ?? '?'), s2s_agent_h($p['sent'] ?? '?'), gettext('answered'),
		    s2s_agent_h(isset($p['loss']) && is_numeric($p['loss']) ? round($p['loss'] * 100) : '?'), gettext('loss'),
		    s2s_agent_h($p['rtt_avg_ms'] ?? '-'));
		if (!empty($p['error'])) {
			$txt .= ' <span class="text-danger">' . s2s_agent_h($p['error']) . '</span>';
		}
		s2s_agent_row(gettext('Probe'), $txt . ' (' . s2s_agent_h($p['time'] ?? '') . ')');
	} else {
		s2s_agent_row(gettext('Probe'), gettext('not configured'));
	}
?>
		</tbody></table>
<?php
	$events = is_array($t['events'] ?? null) ? $t['events'] : array();
	if ($events) {
?>
		<h4><?=gettext("Recent events")?></h4>
		<table class="table table-condensed table-striped">
			<thead><tr><th><?=gettext("Time")?></th><th><?=gettext("Kind")?></th><th><?=gettext("Message")?></th></tr></thead>
			<tbody>
<?php
		foreach (array_slice($events, -20) as $e) {
			if (!is_array($e)) {
				continue;
			}
			echo '<tr><td>' . s2s_agent_h($e['time'] ?? '') . '</td><td>' . s2s_agent_h($e['kind'] ?? '') .
			    '</td><td>' . s2s_agent_h($e['message'] ?? '') . "</td></tr>\n";
		}
?>
			</tbody>
		</table>
<?php
	}
	$rs = $t['remediation'] ?? null;
	if (is_array($t['azure'] ?? null) || is_array($rs)) {
		echo '<h4>' . gettext("Azure") . '</h4>';
		echo '<table class="table table-condensed"><tbody>';
		if (is_array($rs) && !empty($rs['lng'])) {
			s2s_agent_row(gettext('LNG'), s2s_agent_lng_html($rs, $t['name'] ?? null));
		}
		s2s_agent_row(gettext("Azure's view"), s2s_agent_azure_html($t['azure'] ?? null));
		echo '</tbody></table>';
	}
	if (is_array($rs)) {
		echo '<h4>' . gettext("Remediation") . '</h4>';
		echo '<table class="table table-condensed"><tbody>';
		if (!empty($rs['wan_source'])) {
			$member = '';
			if (!empty($rs['wan_gateway'])) {	/* a gateway group's active member */
				$member = ' (' . gettext('gateway') . ' ' . s2s_agent_h($rs['wan_gateway']) .
				    (isset($rs['wan_tier']) ? ', ' . gettext('tier') . ' ' . s2s_agent_h($rs['wan_tier']) : '') . ')';
			}
			s2s_agent_row(gettext('WAN source'), s2s_agent_h($rs['wan_source']) . ' ' . gettext('via') . ' ' . s2s_agent_h($rs['wan_interface'] ?? '?') . $member);
		}
		s2s_agent_row(gettext('Role'), s2s_agent_h($rs['role'] ?? '') . ' ' . s2s_agent_h($rs['role_detail'] ?? ''));
		s2s_agent_row(gettext('WAN IP'), s2s_agent_h($rs['wan_ip'] ?? '?') .
		    (empty($rs['wan_candidate']) ? '' : ' (' . gettext('pending') . ' ' . s2s_agent_h($rs['wan_candidate']) . ')'));
		s2s_agent_row(gettext('Applied / Azure LNG'), s2s_agent_h($rs['applied_ip'] ?? '-') . ' / ' . s2s_agent_h($rs['lng_ip'] ?? '?'));
		s2s_agent_row(gettext('Azure writes (last hour)'), s2s_agent_h($rs['azure_writes_last_hour'] ?? 0));
		$plan = is_array($rs['plan'] ?? null) ? $rs['plan'] : array();
		s2s_agent_row(gettext('Now'), (!empty($rs['running']) ? gettext('remediation running') . '; ' : '') .
		    s2s_agent_h($plan['reason'] ?? '') . (empty($plan['blocked']) ? '' : ' &mdash; ' . s2s_agent_h($plan['blocked'])));
		echo '</tbody></table>';
	}
	$rem = is_array($t['remediations'] ?? null) ? $t['remediations'] : array();
	if ($rem) {
		echo '<h4>' . gettext("Last remediations") . '</h4>';
		echo '<table class="table table-condensed table-striped"><thead><tr><th>' . gettext("Started") .
		    '</th><th>' . gettext("Trigger") . '</th><th>' . gettext("Result") . '</th><th>' . gettext("Steps") .
		    "</th></tr></thead><tbody>\n";
		foreach (array_slice($rem, 0, 5) as $r) { /* newest first */
			if (!is_array($r)) {
				continue;
			}
			$steps = array();
			foreach ((is_array($r['steps'] ?? null) ? $r['steps'] : array()) as $st) {
				if (is_array($st)) {
					$steps[] = s2s_agent_h($st['kind'] ?? '') . ' ' . (!empty($st['ok']) ? 'ok' : '<b>FAILED</b>') .
					    ' (' . s2s_agent_h($st['seconds'] ?? '') . ' s): ' . s2s_agent_h($st['detail'] ?? '');
				}
			}
			$result = array_key_exists('ok', $r) && $r['ok'] !== null ? ($r['ok'] ? 'ok' : 'FAILED') : gettext('running');
			echo '<tr><td>' . s2s_agent_h($r['started'] ?? '') . '</td><td>' . s2s_agent_h($r['trigger'] ?? '') .
			    '</td><td>' . s2s_agent_h($result) . ' ' . s2s_agent_h($r['seconds'] ?? '') . ' s</td><td>' .
			    implode('<br/>', $steps) . "</td></tr>\n";
		}
		echo "</tbody></table>\n";
	}
?>
	</div>
</div>
<?php
}
$lngs = is_array($status['lngs'] ?? null) ? $status['lngs'] : array();
if ($lngs) {
?>
<div class="panel panel-default">
	<div class="panel-heading"><h2 class="panel-title"><?=gettext("Azure Local Network Gateways")?></h2></div>
	<div class="panel-body">
		<table class="table table-condensed table-striped">
			<thead><tr><th><?=gettext("LNG")?></th><th><?=gettext("Tunnels")?></th><th><?=gettext("WAN wanted")?></th>
			<th><?=gettext("Azure has")?></th><th><?=gettext("Azure writes (last hour)")?></th><th><?=gettext("Now")?></th>
			<th><?=gettext("Last remediation")?></th></tr></thead>
			<tbody>
<?php
	foreach ($lngs as $x) {
		if (!is_array($x)) {
			continue;
		}
		$az = is_array($x['azure'] ?? null) ? $x['azure'] : null;
		$match = $x['ip_matches_wan'] ?? null;
		$has = s2s_agent_h($az['ip'] ?? '?') . ' (' . s2s_agent_read_age($az) . ')' .
		    ($match === false ? ' <span class="text-danger">' . gettext('differs') . '</span>' : '') .
		    (empty($x['azure_error']) ? '' : '<br/><span class="text-danger">' . s2s_agent_h($x['azure_error']) . '</span>');
		$now = !empty($x['running']) ? gettext('remediation running') : s2s_agent_h($x['plan_reason'] ?? '');
		if (!empty($x['backoff_until'])) {
			$now .= '<br/>' . gettext('backing off until') . ' ' . s2s_agent_h($x['backoff_until']);
		} elseif (!empty($x['blocked'])) {
			$now .= '<br/>' . s2s_agent_h($x['blocked']);
		}
		$r = is_array($x['last_remediation'] ?? null) ? $x['last_remediation'] : null;
		$last = $r === null ? '-' : s2s_agent_h($r['started'] ?? '') . ' ' .
		    (array_key_exists('ok', $r) && $r['ok'] !== null ? ($r['ok'] ? 'ok' : '<b>FAILED</b>') : gettext('running')) .
		    ' &mdash; ' . s2s_agent_h($r['trigger'] ?? '');
		echo '<tr><td><b>' . s2s_agent_h($x['name'] ?? '') . '</b><br/><small>' . gettext('subscription') . ' ' .
		    s2s_agent_h($x['subscription_id'] ?? '') . '<br/>' . gettext('resource group') . ' ' . s2s_agent_h($x['resource_group'] ?? '') .
		    '<br/>' . gettext('profile') . ' ' . s2s_agent_h($x['profile'] ?? '') . '</small></td><td>' .
		    s2s_agent_h(implode(', ', is_array($x['tunnels'] ?? null) ? $x['tunnels'] : array())) . '</td><td>' .
		    s2s_agent_h($x['wan_ip'] ?? '?') . '<br/><small>' . s2s_agent_h($x['wan_source'] ?? '') . '</small></td><td>' . $has .
		    '</td><td>' . s2s_agent_h($x['writes_last_hour'] ?? 0) . ' / ' . s2s_agent_h($x['write_limit'] ?? '?') . '</td><td>' .
		    $now . '</td><td>' . $last . "</td></tr>\n";
	}
?>
			</tbody>
		</table>
	</div>
</div>
<?php
}
if (empty($status['tunnels'])) {
	print_info_box(gettext('No tunnel is configured. Choose one under VPN > s2s-agent.'), 'warning', false);
}
include("foot.inc");
