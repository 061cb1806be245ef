VALUE = "as imported"
