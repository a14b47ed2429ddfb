# Models arrive with the Reporting issue.
