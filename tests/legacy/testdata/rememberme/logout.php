<?php
require __DIR__ . '/common.php';
// The app's logout ends its PHP session and asks the browser to drop the
// remember-me cookies; the token behind them stays, so a copy of them still
// logs in.
session_start();
$_SESSION = [];
session_destroy();
setcookie(session_name(), '', ['expires' => 1, 'path' => '/']);
remember_cookie('rm_user', '', 1);
remember_cookie('rm_token', '', 1);
header('Location: /login.php?loggedout=1', true, 302);
