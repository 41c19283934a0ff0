package legacy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// phpFPM is Debian's php-fpm, as scripts/test-setup.sh installs it.
const phpFPM = "/usr/sbin/php-fpm8.2"

// FPM is a running php-fpm pool on a unix socket.
type FPM struct {
	*e2e.Process
	Socket string
	errLog string
}

// StartFPM runs php-fpm in the foreground with one pool of a few workers on
// a socket in a temporary directory; it is stopped when the test ends.
func StartFPM(t *testing.T) *FPM {
	t.Helper()
	return StartFPMWith(t, "")
}

// StartFPMWith is StartFPM with more lines for the pool, such as
// php_admin_value[...] settings.
func StartFPMWith(t *testing.T, pool string) *FPM {
	t.Helper()
	if _, err := os.Stat(phpFPM); err != nil {
		t.Fatalf("php-fpm is missing (%v): run scripts/test-setup.sh (Debian's php-fpm)", err)
	}
	dir := t.TempDir()
	f := &FPM{Socket: filepath.Join(dir, "fpm.sock"), errLog: filepath.Join(dir, "php-errors.log")}
	user := ""
	args := []string{"--nodaemonize", "--fpm-config", filepath.Join(dir, "php-fpm.conf")}
	if os.Getuid() == 0 {
		// php-fpm refuses root workers unless told twice.
		user = "user = root\ngroup = root\n"
		args = append(args, "-R")
	}
	conf := fmt.Sprintf(`[global]
error_log = /proc/self/fd/2
daemonize = no

[app]
listen = %s
listen.mode = 0666
%spm = static
pm.max_children = 4
catch_workers_output = yes
clear_env = no
php_admin_value[error_log] = %s
php_admin_flag[log_errors] = on
php_admin_value[memory_limit] = 256M
%s
`, f.Socket, user, f.errLog, pool)
	if err := os.WriteFile(filepath.Join(dir, "php-fpm.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	f.Process = e2e.StartProcess(t, "php-fpm", exec.Command(phpFPM, args...))
	f.WaitUntil(t, 20*time.Second, "socket "+f.Socket, func() bool {
		_, err := os.Stat(f.Socket)
		return err == nil
	})
	return f
}

// Errors is what PHP logged (warnings, fatal errors): printed when a test
// fails, so a broken app says why.
func (f *FPM) Errors() string {
	b, _ := os.ReadFile(f.errLog)
	return strings.TrimSpace(string(b))
}

// php runs the PHP CLI (Debian's php-cli) and returns its output.
func php(t *testing.T, code string, args ...string) string {
	t.Helper()
	out, err := exec.Command("php", append([]string{"-r", code}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("php -r %q: %v\n%s", code, err, out)
	}
	return string(out)
}
