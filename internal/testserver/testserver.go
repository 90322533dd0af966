// Package testserver gives tests the Redis and Memcached servers that make
// test starts (their addresses and binaries come in CACHEKIT_* variables),
// and private server processes for tests that kill or starve them. Without a
// server a test skips, or fails under CI=true.
package testserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Addr returns the address in the environment variable env.
func Addr(t testing.TB, env string) string {
	t.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		missing(t, env)
	}
	return addr
}

func missing(t testing.TB, env string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set under CI=true: make test sets it", env)
	}
	t.Skipf("%s unset: run `make test`", env)
}

// Announce prints, once per test binary, the line that says which tests
// skip and how to run them, when any of envs is unset outside CI.
func Announce(pkg string, envs ...string) {
	var unset []string
	for _, env := range envs {
		if os.Getenv(env) == "" {
			unset = append(unset, env)
		}
	}
	if len(unset) > 0 && os.Getenv("CI") != "true" {
		fmt.Fprintf(os.Stderr, "%s: Redis and Memcached tests skipped (%v unset); run `make test` to start the servers and run them\n", pkg, unset)
	}
}

// Process is a private server process on a free loopback port.
type Process struct {
	Addr string
	t    testing.TB
	bin  string
	args []string
	cmd  *exec.Cmd
}

// Start runs the binary named in binEnv with the arguments args returns for
// a free port, waits until it listens, and stops it when the test ends.
func Start(t testing.TB, binEnv string, args func(port int) []string) *Process {
	t.Helper()
	bin := os.Getenv(binEnv)
	if bin == "" {
		missing(t, binEnv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &Process{Addr: fmt.Sprint("127.0.0.1:", port), t: t, bin: bin, args: args(port)}
	p.Restart()
	t.Cleanup(p.Kill)
	return p
}

// Restart starts the process again (after Kill) on the same port.
func (p *Process) Restart() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Dir = p.t.TempDir()
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", p.Addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("%s did not start on %s", p.bin, p.Addr)
}

// Kill stops the process at once, as a crash would (a frozen one too).
func (p *Process) Kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGCONT)
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

// Redis starts a private redis-server (make test exports its binary).
func Redis(t testing.TB) *Process {
	return Start(t, "CACHEKIT_REDIS_SERVER", func(port int) []string {
		return []string{"--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--save", "", "--appendonly", "no"}
	})
}

// Stop freezes the process (SIGSTOP), as a hung server or a dropped network
// looks to its clients: connections stay open and nothing answers.
func (p *Process) Stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatal(err)
	}
}

// Cont resumes a process frozen by Stop (SIGCONT).
func (p *Process) Cont() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		p.t.Fatal(err)
	}
}
