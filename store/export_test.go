package store

import "database/sql"

// The tests of package store_test reach the handles through these; no
// other package can.

// TestReader returns the pool of readers.
func (db *DB) TestReader() *sql.DB { return db.read.DB }

// TestWriter returns the single writer connection.
func (db *DB) TestWriter() *sql.DB { return db.write.DB }
