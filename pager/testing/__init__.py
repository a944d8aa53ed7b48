"""In-repo fakes of the outside world for end-to-end tests and benchmarks: Twilio REST API, SMTP server."""
