# Webhook endpoints (one URL per connection and purpose) arrive with the triggers issue.
urlpatterns: list = []
