// Package storetest runs cachekit over the gofiber/storage drivers a Django
// user expects (Redis, Redis Cluster, Memcached, PostgreSQL, SQLite, bbolt)
// with real servers: the store behaviour suite, a page-hit check through
// fibercache, the keys left after a stream of 404s, and one dead node of
// three. It is a module of its own so the drivers' dependencies stay out of
// the library's go.mod. make test starts the servers (scripts/with-services.sh).
package storetest
