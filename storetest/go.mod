module github.com/cachekit/cachekit/storetest

go 1.26.0

replace github.com/cachekit/cachekit => ../
