<?php
require __DIR__ . '/common.php';
$user = current_user();
header('Content-Type: text/html; charset=utf-8');
if ($user === null) {
    echo "<p>Not logged in. <a href=\"/login.php\">Log in</a></p>\n";
} else {
    echo "<p>Logged in as " . htmlspecialchars($user) . ". <a href=\"/logout.php\">Log out</a></p>\n";
}
