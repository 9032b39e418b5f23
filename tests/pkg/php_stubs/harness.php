<?php
/*
 * Run one s2s-agent.inc entry point against a fake config.xml.
 * php harness.php INC CONFIG_JSON ETC_DIR MODE [ARG_JSON]
 * Prints {"result": ..., "config": ..., "calls": [...]} as JSON.
 *
 * Modes: resync, install, validate, phase1, eval, apply, and the settings page as pfSense's
 * pkg_edit.php (src/usr/local/www/pkg_edit.php, RELENG_2_7_2 and master) runs it:
 *  - form_get: eval <custom_php_command_before_form> with an empty $_POST, then the value of
 *    each field as pkg_edit.php renders it: config value, else <default_value>; base64-decoded
 *    for fields with <encoding>base64</encoding>.
 *  - form_post (ARG_JSON = the posted form): eval <custom_php_command_before_form>, then
 *    <custom_php_validation_command> with $_POST and $input_errors; without errors store one
 *    value per <field> with a fieldname: trim($_POST[name]) ('' when not posted), base64-encoded
 *    for <encoding>base64</encoding> (a textarea ends in the default case too, so its line
 *    ends are kept as posted), into installedpackages/<name>/config/0, then
 *    write_config(<addedit_string>) and eval <custom_php_resync_config_command>.
 * Not pfSense code: it follows what those pfSense files do, checked against the real ones by
 * tests/pkg/pfsense_real (S2S_PFSENSE_SRC).
 */
set_include_path(__DIR__);
list(, $inc, $config_json, $etc, $mode) = $argv;
$arg = isset($argv[5]) ? json_decode($argv[5], true) : null;
define('S2S_AGENT_CONF', "{$etc}/s2s-agent.yaml");
define('S2S_AGENT_ETC_DIR', "{$etc}/s2s-agent");
define('S2S_AGENT_PIDFILE', "{$etc}/s2s_agent.pid");
define('S2S_AGENT_STATE_DIR', "{$etc}/db");
define('S2S_AGENT_CONTROL_SOCKET', "{$etc}/agent.sock"); /* the hooks' wake: none listens */
define('S2S_AGENT_WAKE_MARK', "{$etc}/wake-unreachable");
define('RCFILEPREFIX', "{$etc}/rc.d/");
putenv("S2S_TEST_VARRUN={$etc}");
if (getenv('S2S_TEST_PYTHON')) { /* the agent's interpreter (tests: a fake python3.11) */
	define('S2S_AGENT_PYTHON', getenv('S2S_TEST_PYTHON'));
}
/* the agent's CLI for the Save-time validate-config; none unless a test gives one */
define('S2S_AGENT_CLI', getenv('S2S_TEST_CLI') ?: "{$etc}/no-such-s2s-agent");
/* gwlb.inc's return_gateways_array() on a box with dynamic (DHCP/PPP) gateways: its answer
 * (name => name, interface (real), friendlyiface) from S2S_TEST_GATEWAYS (JSON) */
if (getenv('S2S_TEST_GATEWAYS')) {
	function return_gateways_array($disabled = false, $localhost = false, $inactive = false) {
		s2s_test_call('return_gateways_array', array($disabled, $localhost, $inactive));
		return json_decode(getenv('S2S_TEST_GATEWAYS'), true);
	}
}
require_once('config.inc');
$GLOBALS['s2s_test_config'] = json_decode(file_get_contents($config_json), true);
require_once($inc);

/* The package XML the page runs (S2S_TEST_XML: e.g. s2s_agent_profiles.xml). */
function s2s_test_pkg_xml($inc) {
	return simplexml_load_file(dirname($inc) . '/' . (getenv('S2S_TEST_XML') ?: 's2s_agent.xml'));
}

function s2s_test_pkg_path($pkg) {
	return 'installedpackages/' . (string)$pkg->name . '/config/0';
}

function s2s_test_eval($code) {
	global $input_errors;
	eval((string)$code);
}

switch ($mode) {
	case 'resync':
		$result = s2s_agent_resync();
		break;
	case 'install':
		$result = s2s_agent_install();
		break;
	case 'validate':
		$errors = array();
		s2s_agent_validate_input($arg, $errors);
		$result = $errors;
		break;
	case 'phase1':
		$result = s2s_agent_phase1_options();
		break;
	case 'eval': /* ARG_JSON: a PHP expression of the package's functions */
		$result = eval("return {$arg};");
		break;
	case 'apply':
		$result = s2s_agent_apply_myid($arg['ikeid'], $arg['ip']);
		break;
	case 'form_get':
		$_POST = array();
		$pkg = s2s_test_pkg_xml($inc);
		s2s_test_eval($pkg->custom_php_command_before_form);
		$stored = config_get_path(s2s_test_pkg_path($pkg), array());
		$result = array();
		foreach ($pkg->fields->field as $f) {
			if ((string)$f->type === 'rowhelper') {
				/* each saved row; input/password/textarea with base64 encoding decoded */
				foreach ((isset($stored['row']) && is_array($stored['row'])) ? $stored['row'] : array(array()) as $i => $row) {
					foreach ($f->rowhelper->rowhelperfield as $rf) {
						$name = (string)$rf->fieldname;
						$v = isset($row[$name]) ? $row[$name] : null;
						if ((string)$rf->encoding === 'base64' && in_array((string)$rf->type, array('input', 'password', 'textarea'), true) && !empty($v)) {
							$v = base64_decode($v);
						}
						$result[$name . $i] = $v;
					}
				}
				continue;
			}
			$name = (string)$f->fieldname;
			if ($name === '') {
				continue;
			}
			$v = isset($stored[$name]) ? $stored[$name] : (isset($f->default_value) ? (string)$f->default_value : null);
			if ((string)$f->encoding === 'base64' && !empty($v)) {
				$v = base64_decode($v);
			}
			$result[$name] = $v;
		}
		break;
	case 'form_post':
		$_POST = $arg;
		$input_errors = array();
		$pkg = s2s_test_pkg_xml($inc);
		s2s_test_eval($pkg->custom_php_command_before_form);
		s2s_test_eval($pkg->custom_php_validation_command);
		if ($input_errors) {
			$result = array('input_errors' => $input_errors, 'post' => $_POST);
			break;
		}
		$row = array();
		foreach ($pkg->fields->field as $f) {
			if ((string)$f->type === 'rowhelper') { /* pkg_edit.php: NAME<index> -> row[index][NAME], as posted */
				foreach ($f->rowhelper->rowhelperfield as $rf) {
					$rname = (string)$rf->fieldname;
					foreach ($_POST as $key => $value) {
						if (preg_match("/^{$rname}(\\d+)$/", $key, $m)) {
							$row['row'][$m[1]][$rname] = (string)$rf->type === 'textarea' ? str_replace("\r\n", "\n", $value) : $value;
						}
					}
				}
				continue;
			}
			$name = (string)$f->fieldname;
			if ($name === '') {
				continue;
			}
			$v = trim(isset($_POST[$name]) ? (string)$_POST[$name] : '');
			$row[$name] = (string)$f->encoding === 'base64' ? base64_encode($v) : $v;
		}
		config_set_path(s2s_test_pkg_path($pkg), $row);
		write_config((string)$pkg->addedit_string);
		s2s_test_eval($pkg->custom_php_resync_config_command);
		$result = array('input_errors' => array(), 'post' => $_POST);
		break;
	default:
		fwrite(STDERR, "unknown mode {$mode}\n");
		exit(3);
}
echo json_encode(array('result' => $result, 'config' => $GLOBALS['s2s_test_config'],
    'calls' => $GLOBALS['s2s_test_calls']));
