package gormcache

import (
	"database/sql"
	"errors"
	"reflect"
)

// recordingRows is a query's *sql.Rows that also keeps each row's driver
// values, so the result can be stored as it came.
type recordingRows struct {
	*sql.Rows
	cols    []string
	rows    [][]any
	holders []any
	max     int  // rows kept at most; past it the result is not stored
	bad     bool // a value or destination the replay cannot reproduce
}

func (r *recordingRows) Scan(dest ...any) error {
	if !r.bad && len(r.rows) >= r.max {
		r.bad, r.rows = true, nil
	}
	if !r.bad {
		if r.holders == nil {
			r.holders = make([]any, len(dest))
		}
		raw := make([]any, len(dest))
		for i := range raw {
			r.holders[i] = &raw[i]
		}
		if err := r.Rows.Scan(r.holders...); err != nil {
			r.bad = true
		} else {
			for i, v := range raw {
				if !supportedValue(v) || !convertible(reflect.TypeOf(dest[i]), v) {
					r.bad = true
					break
				}
			}
			r.rows = append(r.rows, raw)
		}
	}
	return r.Rows.Scan(dest...)
}

// replayRows hands a stored result to gorm.Scan.
type replayRows struct {
	cols []string
	rows [][]any
	i    int
	err  error
}

func (r *replayRows) Columns() ([]string, error)              { return r.cols, nil }
func (r *replayRows) ColumnTypes() ([]*sql.ColumnType, error) { return nil, errNoColumnTypes }
func (r *replayRows) Next() bool {
	if r.i >= len(r.rows) {
		return false
	}
	r.i++
	return true
}
func (r *replayRows) Err() error   { return nil }
func (r *replayRows) Close() error { return nil }

func (r *replayRows) Scan(dest ...any) error {
	if r.i == 0 || r.i > len(r.rows) || len(dest) != len(r.cols) {
		r.err = errReplay
		return r.err
	}
	row := r.rows[r.i-1]
	for i, d := range dest {
		if err := assign(d, row[i]); err != nil {
			r.err = err
			return err
		}
	}
	return nil
}

var (
	errReplay        = errors.New("gormcache: replay")
	errNoColumnTypes = errors.New("gormcache: no column types on a cached result")
)
