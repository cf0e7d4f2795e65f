"""The simulated telephony card: trunk and station lines with a scriptable far end."""
