package views

// SSOOption is the single sign-on offer on /login.
type SSOOption struct {
	// Name is the provider's name ("Sign in with Name").
	Name string
	// Href starts the sign-in (/login/oidc?next=…).
	Href string
}

// SSORefusedView is the page of a refused single sign-on.
type SSORefusedView struct {
	// Reason is the refusal's code (no_mapped_role, disabled, …).
	Reason  string
	Message string
}
