package handlers

// SupportStore is what the look-up and terminate screens need from the
// database.
type SupportStore interface{}
