package gormcache

import (
	"context"
	"database/sql"
	"sync"

	"gorm.io/gorm"
)

// GORM has no commit callback. The plugin wraps the connection pool, so a
// transaction begun through it is a txPool, and a write inside it leaves
// its tags there; Commit bumps them once the database has the data. A row
// read from outside while the transaction is open (the old data) and cached
// then reads as a miss after the commit. Rollback drops them: nothing was
// invalidated, nothing needs to be.

// pool is the database's connection pool with BeginTx wrapped.
type pool struct {
	gorm.ConnPool
	p *Plugin
}

func wrapPool(p *Plugin, c gorm.ConnPool) gorm.ConnPool {
	if c == nil {
		return nil
	}
	if _, ok := c.(*pool); ok {
		return c
	}
	return &pool{ConnPool: c, p: p}
}

// txConn is what a transaction must offer.
type txConn interface {
	gorm.ConnPool
	gorm.TxCommitter
}

// BeginTx begins a transaction whose invalidations wait for its commit.
func (c *pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	var inner txConn
	switch b := c.ConnPool.(type) {
	case gorm.TxBeginner:
		tx, err := b.BeginTx(ctx, opts)
		if err != nil {
			return nil, err
		}
		inner = tx
	case gorm.ConnPoolBeginner:
		cp, err := b.BeginTx(ctx, opts)
		if err != nil {
			return nil, err
		}
		t, ok := cp.(txConn)
		if !ok {
			return nil, gorm.ErrInvalidTransaction
		}
		inner = t
	default:
		return nil, gorm.ErrInvalidTransaction
	}
	return &txPool{txConn: inner, pool: c}, nil
}

// GetDBConn returns the *sql.DB under the pool, for db.DB().
func (c *pool) GetDBConn() (*sql.DB, error) {
	if d, ok := c.ConnPool.(*sql.DB); ok {
		return d, nil
	}
	if g, ok := c.ConnPool.(gorm.GetDBConnector); ok && g != nil {
		return g.GetDBConn()
	}
	return nil, gorm.ErrInvalidDB
}

// Ping pings the pool when it can.
func (c *pool) Ping() error {
	if pi, ok := c.ConnPool.(interface{ Ping() error }); ok {
		return pi.Ping()
	}
	return nil
}

// txPool is a transaction begun through pool.
type txPool struct {
	txConn
	pool    *pool
	mu      sync.Mutex
	pending []string
}

func (t *txPool) defer1(tags []string) {
	t.mu.Lock()
	t.pending = append(t.pending, tags...)
	t.mu.Unlock()
}

// Commit commits, then bumps the tags of every write the transaction made.
// They are bumped even when Commit fails: it may have failed after the
// database applied it, and a spare invalidation costs one miss.
func (t *txPool) Commit() error {
	err := t.txConn.Commit()
	t.mu.Lock()
	tags := dedupe(t.pending)
	t.pending = nil
	t.mu.Unlock()
	if len(tags) > 0 {
		_ = t.pool.p.cache.InvalidateTags(tags...)
	}
	return err
}

// Rollback rolls back and forgets the pending tags.
func (t *txPool) Rollback() error {
	t.mu.Lock()
	t.pending = nil
	t.mu.Unlock()
	return t.txConn.Rollback()
}

// StmtContext makes gorm's PreparedStmtTX work over a txPool.
func (t *txPool) StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt {
	if s, ok := t.txConn.(interface {
		StmtContext(context.Context, *sql.Stmt) *sql.Stmt
	}); ok {
		return s.StmtContext(ctx, stmt)
	}
	return stmt
}

// GetDBConn returns the *sql.DB the transaction runs on, for db.DB().
func (t *txPool) GetDBConn() (*sql.DB, error) { return t.pool.GetDBConn() }

func dedupe(tags []string) []string {
	if len(tags) < 2 {
		return tags
	}
	seen := make(map[string]bool, len(tags))
	out := tags[:0]
	for _, t := range tags {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// ownTx returns the transaction c runs in when this plugin began it.
func ownTx(c gorm.ConnPool) *txPool {
	switch t := c.(type) {
	case *txPool:
		return t
	case *gorm.PreparedStmtTX:
		if tp, ok := t.Tx.(*txPool); ok {
			return tp
		}
	}
	return nil
}

// inTransaction reports whether c is a transaction (whoever began it).
func inTransaction(c gorm.ConnPool) bool {
	switch c.(type) {
	case *txPool, *gorm.PreparedStmtTX, *sql.Tx:
		return true
	}
	_, ok := c.(gorm.TxCommitter)
	return ok
}
