"""The one preprocessor shared by training and serving: calendar, weather and load features."""
