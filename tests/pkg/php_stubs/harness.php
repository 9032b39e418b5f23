<?php
/*
 * Run one s2s-agent.inc function against a fake config.xml.
 * php harness.php INC CONFIG_JSON ETC_DIR MODE [ARG_JSON]
 * Prints {"result": ..., "config": ..., "calls": [...]} as JSON.
 */
set_include_path(__DIR__);
list(, $inc, $config_json, $etc, $mode) = $argv;
$arg = isset($argv[5]) ? json_decode($argv[5], true) : null;
define('S2S_AGENT_CONF', "{$etc}/s2s-agent.yaml");
define('S2S_AGENT_ETC_DIR', "{$etc}/s2s-agent");
require_once('config.inc');
$GLOBALS['s2s_test_config'] = json_decode(file_get_contents($config_json), true);
require_once($inc);
switch ($mode) {
	case 'resync':
		$result = s2s_agent_resync();
		break;
	case 'validate':
		$errors = array();
		s2s_agent_validate_input($arg, $errors);
		$result = $errors;
		break;
	case 'phase1':
		$result = s2s_agent_phase1_options();
		break;
	case 'apply':
		$result = s2s_agent_apply_myid($arg['ikeid'], $arg['ip']);
		break;
	default:
		fwrite(STDERR, "unknown mode {$mode}\n");
		exit(3);
}
echo json_encode(array('result' => $result, 'config' => $GLOBALS['s2s_test_config'],
    'calls' => $GLOBALS['s2s_test_calls']));
