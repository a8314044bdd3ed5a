package views

// supportStrings are the strings of the support screens.
var supportStrings = map[string]entry{}
