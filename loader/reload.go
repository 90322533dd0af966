package loader

import (
	"errors"
	"io/fs"
	"maps"
	"time"
)

// Reload mode, with nothing changed, costs a render one time.Now, one atomic
// load, and one stat per file of the rendered chain (page, layouts and the
// partials they reach: usually a handful, whatever the size of the tree).
// Every ScanInterval one render also walks the directory (stat of every
// file) to find new and removed files and edits to files outside its chain;
// a render of a name that does not exist walks it at once, so a new page
// shows at its first render.
// Only files whose modification time or size changed are parsed again; the
// new state shares every other parsed file and rebuilds chains lazily. A file
// whose modification time was within racyWindow of the moment it was read
// (git's racy-timestamp rule) also has its content compared, so an edit that
// keeps both size and time is seen too.

// brokenFile remembers a file whose current content does not parse, so that
// it is not parsed again until it changes.
type brokenFile struct {
	foundFile // the version that does not parse
	err       error
}

// reloadChain is Render's lookup in Reload mode.
func (e *Engine) reloadChain(st *state, page string, layouts []string) (*chain, error) {
	if e.version.Load() != st.cfg.version {
		// AddFunc or Delims since the last load: html/v2 would see them at
		// once in Reload mode, so load everything again.
		var err error
		if st, err = e.reloadConfig(); err != nil {
			return nil, err
		}
	}
	if now := time.Now().UnixNano(); now-e.lastScan.Load() >= int64(ScanInterval) && e.scanning.CompareAndSwap(false, true) {
		// Errors of files this render may not use are returned by the
		// renders that use them.
		st, _ = e.update(nil, true)
		e.lastScan.Store(now)
		e.scanning.Store(false)
	}
	c, err := st.chain(page, layouts)
	var me *MissingError
	if errors.As(err, &me) {
		// Perhaps a file added since the last scan: scan now.
		if st, _ = e.update(nil, true); st != nil {
			c, err = st.chain(page, layouts)
		}
		if errors.As(err, &me) {
			// Or one that does not parse: say why.
			if berr := e.brokenNamed(me.Name); berr != nil {
				return nil, berr
			}
		}
	}
	if c == nil {
		return nil, err
	}
	var changed []string
	for _, f := range c.deps {
		mod, size, meta, err := e.stat(f.path)
		if err != nil || !e.unchanged(f.foundFile, mod, size, meta) {
			changed = append(changed, f.path)
		}
	}
	if changed == nil {
		return c, c.err
	}
	if st, err = e.update(changed, false); err != nil {
		return nil, err
	}
	return st.chain(page, layouts)
}

func (e *Engine) reloadConfig() (*state, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := e.state.Load(); st.cfg.version == e.version.Load() {
		return st, nil
	}
	if err := e.loadLocked(); err != nil {
		return nil, err
	}
	return e.state.Load(), nil
}

// brokenNamed returns the parse error of a file of that template name that
// does not parse yet (a new file with an error is not "missing").
func (e *Engine) brokenNamed(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.broken {
		if b.name == name {
			return b.err
		}
	}
	return nil
}

// update parses again the files of paths (or, when full, of the whole
// directory) whose modification time or size changed, and stores a new state
// when any did. A file that does not parse keeps its last good version; the
// first such error is returned with the state in force.
func (e *Engine) update(paths []string, full bool) (*state, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.state.Load()
	if e.broken == nil {
		e.broken = make(map[string]brokenFile)
	}
	changed := map[string]*file{}
	var (
		found []foundFile
		order []string
		err   error
	)
	if full {
		found, err = e.scanLocked(cur, changed)
		order = make([]string, len(found))
		for i, ff := range found {
			order[i] = ff.path
		}
	} else {
		found, err = e.statLocked(cur, paths, changed)
	}
	if err != nil {
		return cur, err
	}
	var (
		firstErr error
		broke    []string // names of files found broken now
		same     []string // paths of files read again with the same content
	)
	added := false
	for _, ff := range found {
		f := cur.parsed.byPath[ff.path]
		if f != nil && e.unchanged(f.foundFile, ff.mod, ff.size, ff.meta) {
			delete(e.broken, ff.path)
			continue
		}
		if b, ok := e.broken[ff.path]; ok && e.unchanged(b.foundFile, ff.mod, ff.size, ff.meta) {
			if firstErr == nil {
				firstErr = b.err
			}
			continue
		}
		nf, err := e.parseFile(ff, cur.cfg)
		if errors.Is(err, fs.ErrNotExist) {
			if f != nil {
				changed[ff.path] = nil
			}
			continue
		}
		if err != nil {
			// Its content is not kept: while its timestamp is racy it is
			// parsed again at each check (unchanged: racy, not hashed).
			ff.racy = time.Since(ff.mod) < racyWindow
			if _, known := e.broken[ff.path]; !known {
				broke = append(broke, ff.name)
			}
			e.broken[ff.path] = brokenFile{foundFile: ff, err: err}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		delete(e.broken, ff.path)
		changed[ff.path] = nf
		if f == nil {
			added = true
		} else if sameContent(f.foundFile, nf.foundFile) {
			same = append(same, ff.path)
		}
	}
	if len(changed) == 0 {
		// A page rendered from the last good version of a file that is
		// broken now shows the error from its next request.
		dropPages(cur, changedTags(cur.parsed, nil, broke))
		return cur, firstErr
	}
	if !added {
		order = nil
	}
	st := newState(cur.parsed.withFiles(changed, order), cur.cfg)
	e.state.Store(st)
	// After the store: a render that follows sees the new files.
	dropped := changed
	if len(same) > 0 {
		dropped = maps.Clone(changed)
		for _, p := range same {
			delete(dropped, p)
		}
	}
	dropPages(st, changedTags(cur.parsed, dropped, broke))
	return st, firstErr
}

// scanLocked lists the files of the directory, marks in changed (as nil)
// the files of cur that are gone and forgets broken files that are gone.
func (e *Engine) scanLocked(cur *state, changed map[string]*file) ([]foundFile, error) {
	found, err := e.scan()
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(found))
	for _, ff := range found {
		seen[ff.path] = true
	}
	for _, f := range cur.parsed.files {
		if !seen[f.path] {
			changed[f.path] = nil
		}
	}
	for p := range e.broken {
		if !seen[p] {
			delete(e.broken, p)
		}
	}
	return found, nil
}

// statLocked stats the files of paths that cur holds, and marks in changed
// (as nil) those that are gone.
func (e *Engine) statLocked(cur *state, paths []string, changed map[string]*file) ([]foundFile, error) {
	var found []foundFile
	for _, p := range paths {
		f := cur.parsed.byPath[p]
		if f == nil {
			continue // removed meanwhile
		}
		mod, size, meta, err := e.stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				changed[p] = nil
				delete(e.broken, p)
				continue
			}
			return nil, err
		}
		found = append(found, foundFile{path: p, name: f.name, mod: mod, size: size, meta: meta})
	}
	return found, nil
}
