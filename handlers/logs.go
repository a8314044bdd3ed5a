package handlers

// LogStore is what the callback log, audit log and overview need from the
// database.
type LogStore interface{}
