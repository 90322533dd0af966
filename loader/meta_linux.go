package loader

import (
	"io/fs"
	"syscall"
)

// fileMeta is what a stat tells of a file besides its modification time
// and size: its change time (which no program can set back) and inode.
type fileMeta struct {
	ctime int64 // nanoseconds
	ino   uint64
}

// metaOf returns the change time and inode of info, when it comes from
// the operating system (os.Stat, os.DirFS); zero otherwise.
func metaOf(info fs.FileInfo) fileMeta {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st == nil {
		return fileMeta{}
	}
	return fileMeta{ctime: st.Ctim.Nano(), ino: st.Ino}
}
