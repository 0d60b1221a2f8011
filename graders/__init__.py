"""aione graders: exchange, sandboxed autograding, feedback, grade export, curriculum runs."""
