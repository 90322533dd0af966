package gormcache

import (
	"reflect"
	"testing"
	"time"
)

func TestParseWrite(t *testing.T) {
	for _, c := range []struct {
		sql          string
		tables       []string
		known, write bool
	}{
		{"SELECT * FROM users", nil, true, false},
		{"  -- hi\n select 1", nil, true, false},
		{"SAVEPOINT sp1", nil, true, false},
		{"INSERT INTO users (name) VALUES (?)", []string{"users"}, true, true},
		{"INSERT INTO `users`(name) VALUES (?)", []string{"users"}, true, true},
		{"insert or replace into Users values (1)", []string{"users"}, true, true},
		{"REPLACE INTO users VALUES (1)", []string{"users"}, true, true},
		{`UPDATE "public"."users" SET name = $1`, []string{"public.users", "users"}, true, true},
		{"UPDATE users u SET name = 1", []string{"users"}, true, true},
		{"UPDATE users AS u SET name = 1", []string{"users"}, true, true},
		{"UPDATE users u JOIN posts p ON p.user_id = u.id SET u.name = 1", nil, false, true},
		{"UPDATE users, posts SET users.name = 1", nil, false, true},
		{"DELETE FROM users WHERE id = 1", []string{"users"}, true, true},
		{"DELETE FROM ONLY users", []string{"users"}, true, true},
		{"DELETE u, p FROM users u JOIN posts p", nil, false, true},
		{"DELETE FROM users, posts USING users", nil, false, true},
		{"TRUNCATE TABLE users", []string{"users"}, true, true},
		{"TRUNCATE users, posts", nil, false, true},
		{"UPDATE users SET a = 1; DELETE FROM posts", nil, false, true},
		{"UPDATE users SET a = 1;", []string{"users"}, true, true},
		{"WITH x AS (SELECT 1) UPDATE users SET a = 1", nil, false, true},
		{"CREATE TABLE t (a int)", nil, false, true},
		{"/* c */ DELETE FROM posts", []string{"posts"}, true, true},
	} {
		tables, known, write := parseWrite(c.sql)
		if !reflect.DeepEqual(tables, c.tables) || known != c.known || write != c.write {
			t.Errorf("%q: %v %v %v; want %v %v %v", c.sql, tables, known, write, c.tables, c.known, c.write)
		}
	}
}

func TestConjunctive(t *testing.T) {
	for sql, want := range map[string]bool{
		"a = 1 AND b = 2":   true,
		"a = 1 OR b = 2":    false,
		"a = 1\tor\tb = 2":  false,
		"a = 1 || b":        false,
		"name = 'orange'":   true,
		"(a = 1) OR(b = 1)": false,
	} {
		if got := conjunctive(sql); got != want {
			t.Errorf("%q: %v", sql, got)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	cols := []string{"a", "b", "c", "d", "e", "f", "g"}
	rows := [][]any{{nil, int64(-7), 1.5, true, []byte("x"), "s", now}, {int64(0), nil, 0.0, false, []byte{}, "", now}}
	b, ok := encodeRows(cols, rows)
	if !ok {
		t.Fatal("encode")
	}
	d, err := decodeRows(b, nil)
	if err != nil || !reflect.DeepEqual(d.cols, cols) || !reflect.DeepEqual(d.rows, rows) {
		t.Fatalf("%v %v %v", err, d.cols, d.rows)
	}
	d, err = decodeRows(b, cols)
	if err != nil || !reflect.DeepEqual(d.rows, rows) {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i++ {
		if _, err := decodeRows(b[:i], nil); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}
	if _, ok := encodeRows(cols[:1], [][]any{{uint64(1)}}); ok {
		t.Fatal("uint64 encoded")
	}
}

func TestAssignLikeDatabaseSQL(t *testing.T) {
	type named string
	var (
		s  *string
		i  *int32
		u  *uint8
		f  *float32
		bo *bool
		n  *named
		by *[]byte
		tm *time.Time
		a  any
	)
	for _, c := range []struct {
		dest any
		src  any
	}{{&s, "x"}, {&s, []byte("y")}, {&i, int64(-3)}, {&u, int64(200)}, {&f, 1.25}, {&bo, int64(1)}, {&bo, true}, {&n, "z"}, {&by, []byte("b")}, {&tm, time.Unix(1, 0)}, {&a, []byte("q")}} {
		if !convertible(reflect.TypeOf(c.dest), c.src) {
			t.Errorf("%T <- %T not convertible", c.dest, c.src)
		}
		if err := assign(c.dest, c.src); err != nil {
			t.Errorf("%T <- %T: %v", c.dest, c.src, err)
		}
	}
	if *s != "y" || *i != -3 || *u != 200 || *f != 1.25 || !*bo || *n != "z" || string(*by) != "b" || !tm.Equal(time.Unix(1, 0)) || string(a.([]byte)) != "q" {
		t.Fatal("values", *s, *i, *u, *f, *bo, *n, *by, *tm, a)
	}
	if err := assign(&u, int64(300)); err == nil {
		t.Fatal("overflow accepted")
	}
	if convertible(reflect.TypeOf(&s), int64(1)) || convertible(reflect.TypeOf(&i), 1.5) {
		t.Fatal("a conversion the replay does not reproduce accepted")
	}
	if err := assign(&s, nil); err != nil || s != nil {
		t.Fatal("nil")
	}
}
