<?php
// Echo app: PHP's $_COOKIE under the built-in server (php -S), which
// parses the Cookie header as every PHP SAPI does. Prints what PHP reads
// for the cookie named in ?name= (a string, or an array for names with
// brackets).
$name = $_GET['name'] ?? '';
$out = ['type' => 'missing', 'value' => '', 'other' => '', 'raw' => bin2hex($_SERVER['HTTP_COOKIE'] ?? '')];
if (array_key_exists($name, $_COOKIE)) {
    $v = $_COOKIE[$name];
    if (is_string($v)) {
        $out['type'] = 'string';
        $out['value'] = bin2hex($v);
    } else {
        $out['type'] = 'other';
        $out['other'] = json_encode($v, JSON_INVALID_UTF8_SUBSTITUTE);
    }
}
header('Content-Type: application/json');
echo json_encode($out);
