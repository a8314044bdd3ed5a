package handlers

// LinkStore is what the sub-merchant, link and landing screens need from
// the database.
type LinkStore interface{}
