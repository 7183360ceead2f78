// The security page: once the library's script has registered a passkey, show the page again, which lists it.
document.addEventListener("otp_webauthn.register_complete", () => {
  window.location.assign(window.location.pathname);
});
