// Package loader is a template engine for Fiber that compiles each template
// once and renders without a global lock. It is a drop-in replacement for
// github.com/gofiber/template/html/v2:
//
//	engine := loader.New("./views", ".html") // was: html.New("./views", ".html")
//	app := fiber.New(fiber.Config{Views: engine})
//
// Templates are html/template files. A template's name is its path relative
// to the directory, without the extension and with forward slashes
// ("partials/nav"); {{template "partials/nav" .}} works across files and a
// layout wraps the page through the layout function ({{embed}} by default,
// renamed with Layout), exactly as with html/v2.
//
// What differs is inside. Load parses every file once and keeps one pristine
// parse tree per template. The first Render of a page with a given chain of
// layouts builds an html/template set from copies of only the templates that
// chain reaches, with {{embed}} compiled into a {{template}} call of the next
// template in the chain, and keeps it: later renders of that chain only look
// it up (an atomic load and a map read) and execute it, on every core at once.
// Each chain sees the {{define}}s of its own page first, then those of its
// layouts, so two pages may both define "title" or "content". A Load that
// fails keeps the previous templates serving; in Reload mode only the files
// that changed are parsed again. {{cache}} blocks (package fragments) work in
// every template and store in the Cache given to Engine.Cache.
//
// # Differences from html/v2
//
// Output is byte for byte html/v2's for the same templates and data, except
// where html/v2 is unsafe or surprising:
//
//   - Each page sees its own {{define}}s (then its layouts', then the rest in
//     html/v2's order); html/v2 keeps one define per name for all pages, the
//     one parsed last.
//   - An error while rendering the page inside a layout is returned; html/v2
//     prints it into the page and returns nil.
//   - The page is escaped for the context where the layout calls {{embed}}
//     (HTML text in practice, where both agree), and gets the layout's $:
//     the render's data, unless {{embed}} sits in a {{define}} that the
//     layout calls with other data. {{embed}} used other than as an action of
//     its own ({{if embed}}, {{embed | f}}) is an error at render.
//   - Load parses again when called again (html/v2's returns at once), and
//     there is no Templates field: each chain has its own set.
//
// # How it fits together
//
// One page, from files to output, by file: files.go lists the template
// files; parse.go parses each into its trees and resolves names as html/v2
// does; fragments.go checks each file's {{cache}} blocks at Load. At the
// first render of a chain, chain.go builds its set (the templates reached,
// a copy per layout, {{embed}} compiled) and fragments.go rewrites its
// blocks through package fragments; later renders find it by one lookup.
// In Reload mode, reload.go checks the chain's files and parses again the
// ones that changed, and devtags.go tags each page a cache renders with its
// templates and drops those pages when a template changes (Check, Watch);
// suggest.go names the closest templates when one is missing.
package loader

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"sync"
	"sync/atomic"
	texttemplate "text/template"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	core "github.com/gofiber/template"
)

// Both interfaces html/v2 satisfies.
var (
	_ fiber.Views  = (*Engine)(nil)
	_ core.IEngine = (*Engine)(nil)
)

// Engine renders the html/template files of one directory or file system.
// Its configuration methods (AddFunc, Delims, ...) are meant to be called
// before Load, as with html/v2; Render is safe for concurrent use.
type Engine struct {
	mu       sync.Mutex // configuration, loading, reloading; never taken by a render of a built chain
	dir      string
	fs       http.FileSystem
	ext      string
	left     string
	right    string
	layout   string
	funcs    map[string]interface{}
	verbose  bool
	cache    *cachekit.Cache
	version  atomic.Uint64         // bumped (under mu) by every configuration change
	broken   map[string]brokenFile // files whose current content fails to parse (Reload mode)
	reload   atomic.Bool
	state    atomic.Pointer[state]
	lastScan atomic.Int64 // unix nanoseconds of the last directory scan (Reload mode)
	scanning atomic.Bool
	loaded   atomic.Bool // a Load has succeeded at least once
}

// New returns an engine for the templates under directory whose file names
// end with extension (".html"), as html.New does.
func New(directory, extension string) *Engine {
	return newEngine(directory, extension, nil)
}

// NewFileSystem returns an engine for the templates of fs whose file names
// end with extension, as html.NewFileSystem does. An embed.FS works through
// http.FS; template names are then paths from the root of fs.
func NewFileSystem(fs http.FileSystem, extension string) *Engine {
	return newEngine("/", extension, fs)
}

func newEngine(directory, extension string, fs http.FileSystem) *Engine {
	e := &Engine{
		dir:    directory,
		fs:     fs,
		ext:    extension,
		left:   "{{",
		right:  "}}",
		layout: "embed",
		funcs:  make(map[string]interface{}),
	}
	// As html/v2: the layout function exists from the start, so templates
	// that use it parse; it fails when called outside a layout.
	e.funcs[e.layout] = layoutOutside(e.layout)
	return e
}

// layoutOutside is the value of the layout function wherever it is not
// compiled away: a template that calls it without being rendered as a layout
// gets an error, as with html/v2.
func layoutOutside(name string) func() (string, error) {
	return func() (string, error) {
		return "", fmt.Errorf("loader: %s called outside a layout", name)
	}
}

// AddFunc adds fn to the functions templates may call, under name. Call it
// before Load: a function added later is seen from the next Load (or the next
// render in Reload mode).
func (e *Engine) AddFunc(name string, fn interface{}) core.IEngineCore {
	e.mu.Lock()
	e.funcs[name] = fn
	e.version.Add(1)
	e.mu.Unlock()
	return e
}

// AddFuncMap adds every function of m, as AddFunc does for one.
func (e *Engine) AddFuncMap(m map[string]interface{}) core.IEngineCore {
	e.mu.Lock()
	for name, fn := range m {
		e.funcs[name] = fn
	}
	e.version.Add(1)
	e.mu.Unlock()
	return e
}

// Debug makes Load log the name of every template it parses.
func (e *Engine) Debug(enabled bool) core.IEngineCore {
	e.mu.Lock()
	e.verbose = enabled
	e.mu.Unlock()
	return e
}

// Delims sets the action delimiters used by the template files; an empty
// string stands for the default, "{{" or "}}". Call it before Load.
func (e *Engine) Delims(left, right string) core.IEngineCore {
	e.mu.Lock()
	e.left, e.right = left, right
	e.version.Add(1)
	e.mu.Unlock()
	return e
}

// FuncMap returns the engine's function map (the map itself, as html/v2
// does). It holds the functions added with AddFunc and AddFuncMap and the
// layout function.
func (e *Engine) FuncMap() map[string]interface{} {
	return e.funcs
}

// Layout renames the layout function, "embed" by default: a layout template
// shows the page (or the next layout) where it calls {{key}}. It takes effect
// at once for renders that follow.
func (e *Engine) Layout(key string) core.IEngineCore {
	e.mu.Lock()
	e.layout = key
	e.rebaseLocked()
	e.mu.Unlock()
	return e
}

// Reload turns development mode on or off. When on, each Render checks the
// files of the chain it renders (modification time and size) and parses again
// only those that changed; the directory is scanned for new, removed and
// other changed files at most every ScanInterval, and at once when a render
// names a template that does not exist. A file that fails to parse keeps its
// last good version; renders that use it return the error, with file and
// line, until it is fixed, and the others are not disturbed. Pages a cache
// keeps are dropped when a template they were built from changes: see
// TemplateTag and Watch.
func (e *Engine) Reload(enabled bool) core.IEngineCore {
	e.mu.Lock()
	e.reload.Store(enabled)
	e.mu.Unlock()
	return e
}

// PreRenderCheck reports whether Render will load or check the templates
// before rendering: before the first successful Load, and always in Reload
// mode.
func (e *Engine) PreRenderCheck() bool {
	return !e.loaded.Load() || e.reload.Load()
}

// Cache sets where the {{cache}} blocks of the templates store their
// fragments. The default is cachekit.Default(). It takes effect at once for
// renders that follow.
func (e *Engine) Cache(c *cachekit.Cache) *Engine {
	e.mu.Lock()
	e.cache = c
	e.rebaseLocked()
	e.mu.Unlock()
	return e
}

// ScanInterval is the shortest time between two scans of the whole template
// directory in Reload mode. Between scans, a render checks only the files of
// the chain it renders, so an edit to one of them shows at once, while a new
// file, a removed one, or an edit to a file the rendered page does not use
// shows within ScanInterval.
const ScanInterval = 300 * time.Millisecond

// Load parses every template file. It fails on the first file that does not
// parse, with a *Error naming file and line, and then leaves the templates of
// the previous successful Load serving. Unlike html/v2's, it parses again
// when called again. Render calls it when no Load has succeeded yet.
func (e *Engine) Load() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loadLocked()
}

// Render executes the template name with binding and writes the result to
// out. With layouts, the page is rendered inside layout[0] where it calls
// the layout function, that inside layout[1], and so on, as with html/v2;
// the layouts end at the first empty name. A name that does not exist gives
// an error that suggests the closest existing names.
func (e *Engine) Render(out io.Writer, name string, binding interface{}, layout ...string) error {
	for i, l := range layout {
		if l == "" {
			layout = layout[:i]
			break
		}
	}
	st := e.state.Load()
	if st == nil {
		var err error
		if st, err = e.lazyLoad(); err != nil {
			return err
		}
	}
	var (
		c   *chain
		err error
	)
	if e.reload.Load() {
		if ctx := bindContext(binding); ctx != nil {
			c, err = e.reloadTagged(ctx, st, name, layout)
		} else {
			c, err = e.reloadChain(st, name, layout)
		}
	} else {
		c, err = st.chain(name, layout)
	}
	if err != nil {
		return err
	}
	return c.root.Execute(out, binding)
}

func (e *Engine) lazyLoad() (*state, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := e.state.Load(); st != nil {
		return st, nil
	}
	if err := e.loadLocked(); err != nil {
		return nil, err
	}
	return e.state.Load(), nil
}

// config is what a state was built with.
type config struct {
	left, right string
	ext         string
	layout      string
	funcs       template.FuncMap
	cache       *cachekit.Cache
	version     uint64
	verbose     bool
}

func (e *Engine) configLocked() (*config, error) {
	cfg := &config{
		left:    e.left,
		right:   e.right,
		ext:     e.ext,
		layout:  e.layout,
		cache:   e.cache,
		version: e.version.Load(),
		verbose: e.verbose,
		funcs:   make(template.FuncMap, len(e.funcs)+4),
	}
	if cfg.cache == nil {
		cfg.cache = cachekit.Default()
	}
	if err := cfg.cache.Err(); err != nil {
		// A bad Config would otherwise render every block uncached, silently.
		return nil, fmt.Errorf("loader: the Engine's Cache cannot work: %w", err)
	}
	for name, fn := range fragmentFuncs() {
		cfg.funcs[name] = fn
	}
	for name, fn := range e.funcs {
		cfg.funcs[name] = fn
	}
	if _, ok := cfg.funcs[cfg.layout]; !ok && cfg.layout != "" {
		cfg.funcs[cfg.layout] = layoutOutside(cfg.layout)
	}
	// text/template panics on a bad function; say which one instead.
	for name, fn := range cfg.funcs {
		if err := checkFunc(name, fn); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func checkFunc(name string, fn interface{}) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("loader: function %q: %v", name, r)
		}
	}()
	texttemplate.New("").Funcs(texttemplate.FuncMap{name: fn})
	return nil
}

// rebaseLocked makes renders that follow use the current layout name and
// cache, keeping the parsed files and the rest of their configuration.
func (e *Engine) rebaseLocked() {
	st := e.state.Load()
	if st == nil {
		return
	}
	cfg := *st.cfg
	cfg.layout, cfg.cache = e.layout, e.cache
	if cfg.cache == nil {
		cfg.cache = cachekit.Default()
	}
	cfg.funcs = make(template.FuncMap, len(st.cfg.funcs)+1)
	for name, fn := range st.cfg.funcs {
		cfg.funcs[name] = fn
	}
	if _, ok := cfg.funcs[cfg.layout]; !ok && cfg.layout != "" {
		cfg.funcs[cfg.layout] = layoutOutside(cfg.layout)
	}
	e.state.Store(newState(st.parsed, &cfg))
}

func (e *Engine) loadLocked() error {
	cfg, err := e.configLocked()
	if err != nil {
		return err
	}
	found, err := e.scan()
	if err != nil {
		return err
	}
	files := make([]*file, 0, len(found))
	for _, ff := range found {
		f, err := e.parseFile(ff, cfg)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the walk
		}
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	prev := e.state.Load()
	st := newState(newParsedFiles(files), cfg)
	e.state.Store(st)
	if prev != nil && e.reload.Load() {
		// Every file was parsed again: every page built from the
		// templates goes (see devtags.go).
		dropPages(st, allTags(prev.parsed, st.parsed))
	}
	e.broken = nil
	e.lastScan.Store(time.Now().UnixNano())
	e.loaded.Store(true)
	return nil
}
