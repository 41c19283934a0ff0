<?php
require __DIR__ . '/common.php';
if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    header('Content-Type: text/html; charset=utf-8');
    echo "<form method=\"post\"><input name=\"user\"><input name=\"password\" type=\"password\">"
        . "<input name=\"remember\" type=\"checkbox\" value=\"1\"><button>Log in</button></form>\n";
    exit;
}
$user = $_POST['user'] ?? '';
if (!isset($users[$user]) || !password_verify($_POST['password'] ?? '', $users[$user])) {
    http_response_code(403);
    echo "Wrong user or password.\n";
    exit;
}
session_start();
session_regenerate_id(true);
$_SESSION['user'] = $user;
if (($_POST['remember'] ?? '') === '1') {
    $expires = time() + REMEMBER_DAYS * 86400;
    remember_cookie('rm_user', $user, $expires);
    remember_cookie('rm_token', remember_value($user), $expires);
}
header('Location: /', true, 302);
