# Models arrive with the Fulfillment issue.
