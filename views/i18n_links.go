package views

// linkStrings are the strings of the link screens.
var linkStrings = map[string]entry{}
