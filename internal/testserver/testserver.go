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
	"strings"
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
	return startOn(t, binEnv, port, args)
}

func startOn(t testing.TB, binEnv string, port int, args func(port int) []string) *Process {
	t.Helper()
	bin := os.Getenv(binEnv)
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

// Cluster is a private Redis Cluster of three masters and no replicas on
// loopback, for tests that kill a master. It does not require full
// coverage: with a master down, the others answer for their own slots.
type Cluster struct {
	Nodes []*Process
}

// Addrs returns the masters' addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// RedisCluster starts a private three-master Redis Cluster and waits until
// every node reports it ok.
func RedisCluster(t testing.TB) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		missing(t, "redis-cli (apt-get install redis-tools)")
	}
	c := &Cluster{}
	for i := 0; i < 3; i++ {
		dir := t.TempDir()
		c.Nodes = append(c.Nodes, startFree(t, "CACHEKIT_REDIS_SERVER", func(port int) []string {
			return []string{"--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--save", "", "--appendonly", "no",
				"--cluster-enabled", "yes", "--cluster-config-file", dir + "/nodes.conf", "--cluster-node-timeout", "2000",
				"--cluster-require-full-coverage", "no"}
		}))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for i := 0; i < 200; i++ {
		ok := 0
		for _, n := range c.Nodes {
			_, port, _ := net.SplitHostPort(n.Addr)
			out, _ := exec.Command(cli, "-p", port, "cluster", "info").Output()
			if strings.Contains(string(out), "cluster_state:ok") {
				ok++
			}
		}
		if ok == len(c.Nodes) {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the Redis Cluster did not reach cluster_state:ok")
	return nil
}

// startFree is Start on a port whose cluster bus port (+10000) is free too.
func startFree(t testing.TB, binEnv string, args func(port int) []string) *Process {
	t.Helper()
	if os.Getenv(binEnv) == "" {
		missing(t, binEnv)
	}
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", fmt.Sprint("127.0.0.1:", port+10000)); err == nil {
			bus.Close()
			return startOn(t, binEnv, port, args)
		}
	}
	t.Fatal("no free port pair for a cluster node")
	return nil
}

// Memcached starts a private memcached (make test exports its binary).
func Memcached(t testing.TB) *Process {
	user := os.Getenv("USER")
	if user == "" {
		user = "root"
	}
	return Start(t, "CACHEKIT_MEMCACHED_SERVER", func(port int) []string {
		return []string{"-l", "127.0.0.1", "-p", fmt.Sprint(port), "-U", "0", "-m", "32", "-u", user}
	})
}
