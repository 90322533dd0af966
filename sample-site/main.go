// Command sample-site is Calm Goods, a small shop that runs on cachekit: the
// loader renders its templates, {{cache}} blocks keep its expensive
// fragments, fibercache keeps whole pages, and /_cache shows what the caches
// do. It keeps its catalogue in SQLite through GORM, with the gormcache
// plugin caching model rows, seeded on first start in the user's cache
// directory (-db to choose the file).
//
//	go run ./sample-site                 # http://127.0.0.1:3000
//	go run ./sample-site -dev            # templates reload when edited
//	CACHEKIT_REDIS_URL=redis://127.0.0.1:6379/0 go run ./sample-site
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sample-site:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("sample-site", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:3000", "address to listen on")
	dev := fs.Bool("dev", false, "development mode: templates reload when edited")
	db := fs.String("db", "", "SQLite database file, created and seeded on first start (default: "+defaultDBHint+")")
	templates := fs.String("templates", "templates", "template directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(*templates); err != nil {
		return fmt.Errorf("no template directory %q: run from the repository root (go run ./sample-site) or pass -templates", *templates)
	}
	if *db == "" {
		path, err := defaultDB()
		if err != nil {
			return err
		}
		*db = path
	}
	token := os.Getenv("CACHEKIT_ADMIN_TOKEN")
	if token == "" {
		token = randomToken()
		fmt.Printf("sample-site: admin token for /_cache actions and the admin's password: %s (set CACHEKIT_ADMIN_TOKEN to choose it)\n", token)
	}
	s, err := newSite(siteConfig{
		DB:         *db,
		Templates:  *templates,
		Dev:        *dev,
		AdminToken: token,
		RedisURL:   os.Getenv("CACHEKIT_REDIS_URL"),
	})
	if err != nil {
		return err
	}
	defer s.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s is taken by another program; pick another address with -addr 127.0.0.1:3001", *addr)
		}
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	fmt.Printf("sample-site: Calm Goods on http://%s (%s)\n", ln.Addr(), s.describe())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		s.app.Shutdown()
	}()
	return s.app.Listener(ln)
}

const defaultDBHint = "cachekit-sample-site/shop.db in the user's cache directory"

// defaultDB returns the per-user database path, os.UserCacheDir()/
// cachekit-sample-site/shop.db, creating its directory (readable by the
// user only).
func defaultDB() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no per-user cache directory (%v): pass -db", err)
	}
	dir := filepath.Join(base, "cachekit-sample-site")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w (or pass -db)", dir, err)
	}
	return filepath.Join(dir, "shop.db"), nil
}
