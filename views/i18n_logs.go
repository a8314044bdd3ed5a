package views

// logStrings are the strings of the log screens.
var logStrings = map[string]entry{}
