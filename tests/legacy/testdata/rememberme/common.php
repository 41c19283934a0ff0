<?php
// A small app written for the tests of `seal`: its "remember me" is the
// scheme of many PHP apps (an HMAC of a token kept per user, with a user
// cookie beside it), so the value is the same for every login of a user and
// its logout leaves it valid. Debian's DokuWiki and WordPress rotate theirs.
// config.php (written by the test) sets $users (name => password hash) and
// $data (a writable directory).
require __DIR__ . '/config.php';

const REMEMBER_DAYS = 30;

// The user's remember-me token, created at the first "remember me" and
// kept for good: the app never rotates it.
function remember_token(string $user): string {
    global $data;
    $file = $data . '/token-' . bin2hex($user);
    if (!is_file($file)) {
        file_put_contents($file, bin2hex(random_bytes(32)), LOCK_EX);
    }
    return file_get_contents($file);
}

function remember_value(string $user): string {
    return hash_hmac('sha256', $user, remember_token($user));
}

function current_user(): ?string {
    global $users;
    session_start();
    if (isset($_SESSION['user'])) {
        return $_SESSION['user'];
    }
    $user = $_COOKIE['rm_user'] ?? '';
    $value = $_COOKIE['rm_token'] ?? '';
    if ($user !== '' && isset($users[$user]) && hash_equals(remember_value($user), $value)) {
        session_regenerate_id(true);
        $_SESSION['user'] = $user;
        return $user;
    }
    return null;
}

function remember_cookie(string $name, string $value, int $expires): void {
    setcookie($name, $value, ['expires' => $expires, 'path' => '/', 'httponly' => true, 'samesite' => 'Lax']);
}
