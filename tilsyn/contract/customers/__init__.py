"""The customer's contract: its wire model, the parse of a body, the pure merge."""
