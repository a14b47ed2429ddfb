"""The settings the README documents are read from the environment."""



ENV = {"PAYMENT_TIMEOUT_MINUTES": "30", "TRACKING_STALL_HOURS": "36.5",
       "ORDER_COMPLETE_AFTER_DAYS": "14", "TRACK_RATE_LIMIT": "5/m",
       "SITE_URL": "https://orders.example.com", "GAP_CHECK_DAYS": "3",
       "CHANNEL_MAX_FAILURES": "9"}


def test_documented_settings_come_from_the_environment(fresh_settings):
    settings = fresh_settings(ENV)
    assert (settings.PAYMENT_TIMEOUT_MINUTES, settings.TRACKING_STALL_HOURS,
            settings.ORDER_COMPLETE_AFTER_DAYS, settings.TRACK_RATE_LIMIT, settings.SITE_URL,
            settings.GAP_CHECK_DAYS, settings.CHANNEL_MAX_FAILURES) == (
        30, 36.5, 14, "5/m", "https://orders.example.com", 3, 9)


def test_the_defaults(fresh_settings):
    settings = fresh_settings({})
    assert (settings.PAYMENT_TIMEOUT_MINUTES, settings.TRACKING_STALL_HOURS,
            settings.ORDER_COMPLETE_AFTER_DAYS, settings.TRACK_RATE_LIMIT) == (
        1440, 24.0, 7, "10/m")
