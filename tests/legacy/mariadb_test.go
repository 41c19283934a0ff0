package legacy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// MariaDB is a private mariadbd on a data directory and socket of its own,
// with one database and user for the app.
type MariaDB struct {
	Socket             string
	DB, User, Password string
}

// StartMariaDB initialises a data directory, starts mariadbd on a unix
// socket only (no network) and creates the app's database and user. It is
// stopped when the test ends.
func StartMariaDB(t *testing.T) *MariaDB {
	t.Helper()
	for _, bin := range []string{"/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/bin/mariadb"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is missing (%v): run scripts/test-setup.sh (Debian's mariadb-server)", bin, err)
		}
	}
	// Short: a unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "mdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	m := &MariaDB{Socket: filepath.Join(dir, "my.sock"), DB: "wordpress", User: "wp", Password: "wp-" + randomHex(8)}
	user := []string{}
	if os.Getuid() == 0 {
		user = []string{"--user=root"}
	}
	install := exec.Command("/usr/bin/mariadb-install-db", append([]string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=normal", "--skip-test-db"}, user...)...)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	mariadbd := e2e.StartProcess(t, "mariadbd", exec.Command("/usr/sbin/mariadbd", append([]string{"--no-defaults",
		"--datadir=" + data, "--socket=" + m.Socket, "--skip-networking", "--pid-file=" + filepath.Join(dir, "pid"),
		"--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--skip-log-bin"}, user...)...))
	mariadbd.WaitUntil(t, 60*time.Second, "answer on "+m.Socket, func() bool { return m.sql("root", "", "SELECT 1") == nil })
	setup := fmt.Sprintf("CREATE DATABASE %s; CREATE USER '%s'@'localhost' IDENTIFIED BY '%s'; GRANT ALL ON %s.* TO '%s'@'localhost';",
		m.DB, m.User, m.Password, m.DB, m.User)
	if err := m.sql("root", "", setup); err != nil {
		t.Fatalf("creating the database: %v", err)
	}
	return m
}

func (m *MariaDB) sql(user, password, query string) error {
	args := []string{"--no-defaults", "--socket=" + m.Socket, "-u", user, "-e", query}
	if password != "" {
		args = append(args, "-p"+password)
	}
	out, err := exec.Command("/usr/bin/mariadb", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}
