<?php
/*
 * s2s_agent.widget.php: dashboard widget with the health of every watched tunnel, its Azure
 * LNG and Azure's view of its connection and LNG.
 *
 * SPDX-License-Identifier: BSD-2-Clause
 */

require_once("guiconfig.inc");
require_once("/usr/local/www/widgets/include/s2s_agent.inc");

list($s2s_status, $s2s_error) = s2s_agent_status();
?>
<table class="table table-striped table-hover table-condensed">
	<thead>
		<tr>
			<th><?=gettext("Tunnel")?></th>
			<th><?=gettext("Health")?></th>
			<th><?=gettext("IKE")?></th>
			<th><?=gettext("Reasons")?></th>
		</tr>
	</thead>
	<tbody>
<?php if ($s2s_error !== null): ?>
		<tr><td colspan="4" class="text-danger"><?=s2s_agent_h($s2s_error)?></td></tr>
<?php elseif (empty($s2s_status['tunnels'])): ?>
		<tr><td colspan="4"><?=gettext("No tunnel is configured.")?></td></tr>
<?php else: ?>
<?php	if (($s2s_status['source'] ?? '') === 'state_file'): ?>
		<tr><td colspan="4" class="text-warning"><small><?=gettext("The agent did not answer; saved state")?> (<?=s2s_agent_h($s2s_status['age_seconds'] ?? '?')?> s <?=gettext("old")?>)</small></td></tr>
<?php	endif; ?>
<?php endif; ?>
<?php if ($s2s_error === null && !empty($s2s_status['tunnels'])): ?>
<?php	foreach ($s2s_status['tunnels'] as $t):
		if (!is_array($t)) {
			continue;
		}
		$health = (string)($t['health'] ?? 'UNKNOWN');
		$reasons = is_array($t['reasons'] ?? null) ? $t['reasons'] : array();
?>
		<tr>
			<td><a href="/status_s2s_agent.php"><?=s2s_agent_h($t['name'] ?? '')?></a></td>
			<td><span class="label label-<?=s2s_agent_health_class($health)?>"><?=s2s_agent_h($health)?></span></td>
			<td><?=s2s_agent_h($t['ike_state'] ?? '-')?></td>
			<td><?=s2s_agent_reasons_html($reasons, false)?></td>
		</tr>
<?php
		$az = is_array($t['azure'] ?? null) ? $t['azure'] : null;
		$rem = is_array($t['remediation'] ?? null) ? $t['remediation'] : array();
		$last = (is_array($t['remediations'] ?? null) && is_array($t['remediations'][0] ?? null)) ? $t['remediations'][0] : null;
		if ($az !== null || $last !== null || !empty($rem['lng'])):
?>
		<tr>
			<td colspan="4"><small>
<?php		if (!empty($rem['lng'])): ?>
				<?=gettext("LNG")?>: <?=s2s_agent_h($rem['lng'])?>
<?php		endif; ?>
<?php		if ($az !== null): ?>
				<?=gettext("Azure")?>: <?=s2s_agent_h($az['status'] ?? '?')?><?=empty($az['error']) ? '' : ' (' . s2s_agent_h($az['error']) . ')'?>
<?php			if (is_array($az['lng'] ?? null)): ?>
				&mdash; <?=gettext("LNG has")?> <?=s2s_agent_h($az['lng']['ip'] ?? '?')?> (<?=s2s_agent_read_age($az['lng'])?>)
<?php			endif; ?>
<?php		endif; ?>
<?php		if ($last !== null): ?>
				<?=gettext("Last remediation")?>: <?=s2s_agent_h($last['started'] ?? '')?>
				<?=s2s_agent_h(($last['ok'] ?? null) === null ? gettext('running') : ($last['ok'] ? 'ok' : 'FAILED'))?>
				&mdash; <?=s2s_agent_h($last['trigger'] ?? '')?>
<?php		endif; ?>
			</small></td>
		</tr>
<?php		endif; ?>
<?php	endforeach; ?>
<?php endif; ?>
	</tbody>
</table>
