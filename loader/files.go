package loader

import (
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	pathpkg "path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// foundFile is a template file as a directory scan (or, for a file already
// parsed, a stat) finds it: where it is, its template name and its version.
type foundFile struct {
	path string // as walked: OS path, or slash path in the http.FileSystem
	name string // template name
	mod  time.Time
	size int64
	meta fileMeta // change time and inode, where the system has them

	// racy is set when the content was read less than racyWindow after
	// mod: an edit in the same timestamp tick, with the same size, would
	// not change the stat, so the content is compared (sum, when hashed).
	racy   bool
	hashed bool
	sum    [sha256.Size]byte // of the content read, racy or not (summed)
	summed bool
}

// racyWindow is the timestamp granularity Reload mode allows for: git's
// "racy timestamp" rule. A file whose modification time is not at least
// this much older than the moment it was read may have been rewritten since
// with the same size and time (file systems with coarse timestamps, copies
// that preserve times), so until the window has passed its content is
// compared at each check (one read and hash of that file), and once past
// it the file is read again, which settles it. 2 s covers FAT's
// granularity; most file systems have nanoseconds.
const racyWindow = 2 * time.Second

// sameVersion reports whether the file has the given modification time,
// size and metadata: whether it is unchanged, as far as a stat can tell.
// The change time moves with every write and with every change of the
// modification time, so an edit that puts the old time back (a copy that
// preserves times, os.Chtimes) is seen, as git sees it; a file renamed over
// the old one has another inode.
func (ff foundFile) sameVersion(mod time.Time, size int64, meta fileMeta) bool {
	return ff.mod.Equal(mod) && ff.size == size && ff.meta == meta
}

// stamp records, for a file whose content buf was read at readAt, whether
// its timestamp is racy, and the content's hash: a file read again with
// the same content (a racy one past its window, a touch) changes no page.
func (ff *foundFile) stamp(buf []byte, readAt time.Time) {
	ff.racy = readAt.Sub(ff.mod) < racyWindow
	ff.hashed = ff.racy
	ff.sum, ff.summed = sha256.Sum256(buf), true
}

// sameContent reports whether two reads of a file found the same content.
func sameContent(a, b foundFile) bool {
	return a.summed && b.summed && a.sum == b.sum
}

// unchanged reports whether ff, now found with mod and size, is still the
// version that was read: same modification time and size and, for a racy
// one, the same content. A racy file past the window reads as changed
// once, so that it is read again (and is racy no more).
func (e *Engine) unchanged(ff foundFile, mod time.Time, size int64, meta fileMeta) bool {
	if !ff.sameVersion(mod, size, meta) {
		return false
	}
	if !ff.racy {
		return true
	}
	if !ff.hashed || time.Since(ff.mod) >= racyWindow {
		return false
	}
	buf, err := e.readFile(ff.path)
	return err == nil && sha256.Sum256(buf) == ff.sum
}

// readVersion reads a template file's content and stamps ff with it.
func (e *Engine) readVersion(ff foundFile) ([]byte, foundFile, error) {
	readAt := time.Now()
	buf, err := e.readFile(ff.path)
	if err == nil {
		ff.stamp(buf, readAt)
	}
	return buf, ff, err
}

// scan lists the template files in html/v2's parse order: a lexical walk of
// the directory, keeping the files whose path ends with the extension.
func (e *Engine) scan() ([]foundFile, error) {
	var found []foundFile
	walkFn := func(path string, info os.FileInfo, err error) error {
		if err != nil {
			if path != e.dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (an editor's temporary file)
			}
			return err
		}
		if info == nil || info.IsDir() {
			return nil
		}
		if len(e.ext) >= len(path) || path[len(path)-len(e.ext):] != e.ext {
			return nil
		}
		rel, err := filepath.Rel(e.dir, path)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.ToSlash(rel), e.ext)
		if info.Mode()&os.ModeSymlink != 0 && e.fs == nil {
			// filepath.Walk reports the link; change detection follows it.
			if target, err := os.Stat(path); err == nil {
				info = target
			}
		}
		found = append(found, foundFile{path: path, name: name, mod: info.ModTime(), size: info.Size(), meta: metaOf(info)})
		return nil
	}
	if e.fs != nil {
		return found, walkFS(e.fs, e.dir, walkFn)
	}
	return found, filepath.Walk(e.dir, walkFn)
}

// stat returns the modification time, size and metadata of a template file.
func (e *Engine) stat(path string) (time.Time, int64, fileMeta, error) {
	var (
		info fs.FileInfo
		err  error
	)
	if e.fs != nil {
		info, err = statFS(e.fs, path)
	} else {
		info, err = os.Stat(path)
	}
	if err != nil {
		return time.Time{}, 0, fileMeta{}, err
	}
	return info.ModTime(), info.Size(), metaOf(info), nil
}

// readFile returns the content of a template file.
func (e *Engine) readFile(path string) ([]byte, error) {
	if e.fs == nil {
		return os.ReadFile(path)
	}
	f, err := e.fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// walkFS walks an http.FileSystem as github.com/gofiber/utils.Walk does
// (which html/v2 uses): lexical order, slash paths joined to root.
func walkFS(hfs http.FileSystem, root string, walkFn filepath.WalkFunc) error {
	info, err := statFS(hfs, root)
	if err != nil {
		return walkFn(root, nil, err)
	}
	return walkFSDir(hfs, root, info, walkFn)
}

func walkFSDir(hfs http.FileSystem, path string, info os.FileInfo, walkFn filepath.WalkFunc) error {
	if err := walkFn(path, info, nil); err != nil {
		if info.IsDir() && err == filepath.SkipDir {
			return nil
		}
		return err
	}
	if !info.IsDir() {
		return nil
	}
	names, err := readDirNames(hfs, path)
	if err != nil {
		return walkFn(path, info, err)
	}
	for _, name := range names {
		filename := pathpkg.Join(path, name)
		fileInfo, err := statFS(hfs, filename)
		if err != nil {
			if err := walkFn(filename, fileInfo, err); err != nil && err != filepath.SkipDir {
				return err
			}
			continue
		}
		if err := walkFSDir(hfs, filename, fileInfo, walkFn); err != nil {
			if !fileInfo.IsDir() || err != filepath.SkipDir {
				return err
			}
		}
	}
	return nil
}

func readDirNames(hfs http.FileSystem, dir string) ([]string, error) {
	f, err := hfs.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	infos, err := f.Readdir(0)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(infos))
	for i := range infos {
		names[i] = infos[i].Name()
	}
	sort.Strings(names)
	return names, nil
}

func statFS(hfs http.FileSystem, name string) (os.FileInfo, error) {
	f, err := hfs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}
